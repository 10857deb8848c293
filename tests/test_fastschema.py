"""generator._fastschema answers as jsonschema does (no error <=> valid) on every shipped schema: the framework
configs of the corpus and the examples, the specs of the examples and the test cases, and mutations of each
value (every top-level value replaced by values of other types), so a valid config never needs jsonschema."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import _fastschema, configschema, spec, validate
from generator._yaml import load_file
from generator.errors import FtgenError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus"
MUTANTS = ["x", "", "1e-5", "12", 0, 1, -1, 2.5, True, False, None, [], ["x"], [{}], {}, {"a": 1}]


def _configs() -> list[tuple[str, Path]]:
    return [(fw, p) for fw in ("axolotl", "llamafactory") for p in sorted((CORPUS / fw).glob("*.y*ml"))]


def _specs() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "tests" / "cases").glob("*/*.yaml"))


def _agree(validator, schema, value, **options) -> tuple[bool, bool]:
    fast = _fastschema.quick_valid(schema, value, **options)
    slow = next(iter(validator.iter_errors(value)), None) is None
    return fast, slow


@pytest.mark.corpus
@pytest.mark.parametrize("framework,path", _configs(), ids=lambda v: getattr(v, "name", v))
def test_framework_configs_and_their_mutations(framework, path):
    schema = validate.load_schema(framework)
    options = {"numbers": configschema._numeric_string_policy(schema)}
    validator = configschema._validator_for(framework, None)
    cfg = load_file(path, str(path)).data
    assert _agree(validator, schema, cfg, **options) in ((True, True), (False, False))
    props = schema.get("properties", {})
    disagree = []
    for key in [k for k in cfg if k in props]:
        part = {"$defs": schema.get("$defs", {}), **props[key]}  # the key's own schema, its references kept
        check = validator.evolve(schema=part)
        for mutant in [cfg[key], *MUTANTS]:
            fast, slow = _agree(check, part, mutant, **options)
            assert not (fast and not slow), f"{key}={mutant!r}: fast says valid, jsonschema finds an error"
            if fast != slow:
                disagree.append((key, mutant))
    assert not disagree, f"fast check refuses values jsonschema accepts (needless fallback): {disagree[:5]}"


@pytest.mark.parametrize("path", _specs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_specs_and_their_mutations(path):
    schema = spec.schema()
    validator = spec._validator()
    try:
        data = load_file(path, str(path)).data
    except FtgenError:
        return  # not readable YAML (a bad case): the loader refuses it before any schema is asked
    fast, slow = _agree(validator, schema, data, strict_pattern=True)
    assert fast == slow
    if not isinstance(data, dict):
        return
    for key in list(data):
        for mutant in [*MUTANTS, "bad\n", "a" * 300]:
            changed = dict(data)
            changed[key] = mutant
            fast, slow = _agree(validator, schema, changed, strict_pattern=True)
            assert fast == slow, f"{key}={mutant!r}: fast {fast}, jsonschema {slow}"


@pytest.mark.parametrize(
    "schema,value,valid",
    [
        ({"enum": [1]}, True, False),  # true is not 1
        ({"const": True}, 1, False),
        ({"enum": [[1, 2]]}, [1, 2], True),
        ({"type": "integer"}, 2.0, True),
        ({"type": "number"}, True, False),
        ({"pattern": "^a$"}, "a\n", True),
        ({"contains": {"const": 1}}, [], False),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", 1], True),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", "b"], False),
        ({"uniqueItems": True}, [1, True], True),
        ({"minimum": 1}, "0", True),  # bounds apply to numbers only
    ],
)
def test_semantics_match_jsonschema(schema, value, valid):
    from jsonschema import Draft202012Validator

    assert _fastschema.is_valid(schema, value) is valid
    assert Draft202012Validator(schema).is_valid(value) is valid


def test_strict_pattern_refuses_a_final_newline():
    assert not _fastschema.is_valid({"pattern": "^a$"}, "a\n", strict_pattern=True)


def test_numeric_strings_follow_the_policy():
    assert _fastschema.is_valid({"type": "number", "minimum": 0}, "1e-5", numbers="lax")
    assert not _fastschema.is_valid({"type": "number", "minimum": 0}, "-1", numbers="lax")
    assert not _fastschema.is_valid({"type": "number"}, "1e-5")
    assert _fastschema.is_valid({"type": "integer"}, True, numbers="lax")


def test_an_unknown_keyword_is_not_guessed():
    with pytest.raises(_fastschema.Unsupported):
        _fastschema.is_valid({"dependentRequired": {"a": ["b"]}}, {"a": 1})
    assert _fastschema.quick_valid({"dependentRequired": {"a": ["b"]}}, {"a": 1}) is False


def _sky_files() -> list[Path]:
    return sorted(ROOT.glob("outputs/*/sky.yaml")) + sorted(ROOT.glob("tests/cases/good/expected/*/sky.yaml"))


@pytest.mark.parametrize("path", _sky_files(), ids=lambda p: p.parent.name)
def test_skypilot_tasks_and_their_mutations(path):
    from generator._yaml import load_trusted
    from generator.launch._files import SKY_DIALECT, _sky_validator, sky_schema

    schema, validator = sky_schema(), _sky_validator()
    data = load_trusted(path.read_text())
    assert _agree(validator, schema, data, ignore=SKY_DIALECT) == (True, True)
    for key in list(data):
        for mutant in MUTANTS:
            fast, slow = _agree(validator, schema, {**data, key: mutant}, ignore=SKY_DIALECT)
            assert not (fast and not slow), f"{key}={mutant!r}: fast says valid, jsonschema finds an error"
