"""One schema-error translator: specs, framework configs, run records and SkyPilot tasks word the same kind of
schema error the same way (generator/_schema_errors.py), with the key path, the value found and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import spec as spec_mod
from generator.errors import FtgenError
from generator.launch._files import sky_problems
from generator.run.record import RunRecord
from generator.validate import validate_config

REPO = Path(__file__).resolve().parent.parent
SPEC = {"name": "bot", "base_model": "Qwen/Qwen2.5-7B", "data": {"train": [{"path": "org/ds", "format": "alpaca"}]}}


def _spec_problems(data: dict):
    with pytest.raises(FtgenError) as exc:
        spec_mod.from_dict(data, "spec.yaml")
    return exc.value.problems


def _words(p) -> tuple:
    return (p.message, p.allowed)


def test_a_wrong_type_reads_the_same_in_a_spec_and_a_framework_config():
    spec = [p for p in _spec_problems({**SPEC, "sequence_len": "long"}) if p.key == "sequence_len"]
    config = [
        p for p in validate_config("axolotl", {"sequence_len": "long"}, "axolotl.yaml") if p.key == "sequence_len"
    ]
    assert [_words(p) for p in spec] == [_words(p) for p in config] == [("wrong type", "integer")]
    assert spec[0].found == config[0].found == "long"


def test_a_missing_key_reads_the_same_in_a_spec_a_run_record_and_a_framework_config():
    spec = _spec_problems({k: v for k, v in SPEC.items() if k != "base_model"})
    with pytest.raises(FtgenError) as exc:
        RunRecord.from_dict({"name": "x", "framework": "axolotl", "path": "p"}, "run.json")
    record = exc.value.problems
    config = validate_config("llamafactory", {}, "llamafactory.yaml")
    for problems, key in ((spec, "base_model"), (record, "run_id")):
        assert [(p.key, p.message) for p in problems] == [(key, "missing required key")]
    assert {p.message for p in config if p.key == "model_name_or_path"} <= {"missing required key"}


def test_an_unknown_key_is_named_itself_in_a_spec_and_a_sky_task():
    spec = _spec_problems({**SPEC, "hardwear": {}})
    assert [(p.key, p.message) for p in spec] == [("hardwear", "unknown key")]
    assert spec[0].allowed == "did you mean hardware?"
    sky = sky_problems("name: x\nresources: {gpus: 8}\n")
    assert [(p.key, p.message) for p in sky] == [("resources.gpus", "unknown key")]


def test_a_spec_problem_carries_its_line():
    with pytest.raises(FtgenError) as exc:
        spec_mod.load(REPO / "tests" / "cases" / "bad" / "03-wrong-type.yaml")
    assert [p.line for p in exc.value.problems if p.key == "sequence_len"] == [5]


def test_no_other_module_turns_jsonschema_errors_into_problems():
    """Only _schema_errors reads jsonschema's errors (iter_errors, best_match, ValidationError's fields); the
    fast validity check (_fastschema) never words an error."""
    offenders = []
    for path in sorted((REPO / "generator").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in ("generator/_schema_errors.py", "generator/_fastschema.py") or "/_env_scripts/" in rel:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.iter_errors\(|best_match\(|\.absolute_path\b|\.validator_value\b", line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []
