"""load_trusted's omegaconf dialect (libyaml's parser under OmegaConfLoader's resolvers) reads what OmegaConfLoader,
the pure-Python reader as LLaMA-Factory's CLI, reads: same values, same types."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator._datacache import _exact
from generator._yaml import OmegaConfLoader, load_trusted
from generator.render._yamlsafe import yaml_block, yaml_value

REPO = Path(__file__).resolve().parents[1]
RENDERED = sorted(REPO.glob("outputs/**/llamafactory.yaml")) + sorted(REPO.glob("tests/cases/**/llamafactory.yaml"))


@pytest.mark.parametrize("path", RENDERED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_rendered_llamafactory_config_reads_the_same(path):
    text = path.read_text()
    assert _exact(load_trusted(text, "omegaconf"), yaml.load(text, Loader=OmegaConfLoader))


PIECES = list("0123456789.eE+-_:x ~#'\"\\\n\t") + [".inf", ".nan", "NaN", "null", "yes", "2026-01-01"]
SCALARS = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=6).map("".join),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["a", "b_c", "lr"]), st.one_of(SCALARS, st.lists(SCALARS, max_size=3))))
def test_values_ftgen_writes_read_the_same(data):
    text = "".join(yaml_block(k, v) + "\n" for k, v in data.items()) or "{}\n"
    assert _exact(load_trusted(text, "omegaconf"), yaml.load(text, Loader=OmegaConfLoader))


@settings(max_examples=500)
@given(st.one_of(st.integers(), st.integers(min_value=-(2**200), max_value=2**200), st.booleans(), st.none()))
def test_yaml_value_fast_path_writes_what_the_dumper_writes(value):
    from generator.render import _yamlsafe

    dumped = yaml.dump(value, Dumper=_yamlsafe._Dumper, default_flow_style=True, allow_unicode=True, width=10_000)
    assert yaml_value(value) == dumped.rstrip("\n").removesuffix("\n...")
    assert _exact(load_trusted(f"a: {yaml_value(value)}\n", "omegaconf"), {"a": value})


# What the libyaml path of _yamlsafe may be given: short plain-word keys, printable-ASCII strings (with the words
# and characters YAML reads specially), numbers, booleans, None, nested.
_WORDS = ["", " a", "a ", "-", "- x", "? x", ": x", "a: b", "a #b", "#x", "@x", "`x", "!x", "&a", "*a", "%x", "|", ">"]
_WORDS += ["1e3", "0.5", "1_000", "0x1F", "0o7", ".inf", "-.Inf", ".nan", "~", "null", "yes", "no", "On", "True"]
_WORDS += ["2024-01-01", "12:30", "1:20", "+1", "-0", "0001", "1.", "6.02e+23", "...", "---", "<<", "=", "'a'", '"a"']
_ASCII_TEXT = st.one_of(st.sampled_from(_WORDS), st.text(st.characters(min_codepoint=32, max_codepoint=126)))
_KEYS = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True), st.sampled_from(["null", "on"]))
_LEAVES = st.one_of(
    _ASCII_TEXT, st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()
)
_TREES = st.recursive(_LEAVES, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(_KEYS, c, max_size=4)))


@settings(max_examples=400)
@given(st.dictionaries(_KEYS, _TREES, min_size=1, max_size=3), st.booleans(), st.booleans())
def test_libyaml_dumper_writes_what_the_python_dumper_writes(data, flow, unicode):
    """_yamlsafe gives libyaml's emitter only what it writes byte for byte as PyYAML's own (the golden files hold
    PyYAML's text): the guard _same_text admits exactly such values here."""
    from generator.render import _yamlsafe

    assert _yamlsafe._same_text(data)
    options = {"default_flow_style": flow, "sort_keys": False, "allow_unicode": unicode, "width": 10_000}
    assert yaml.dump(data, Dumper=_yamlsafe._CDumper, **options) == yaml.dump(data, Dumper=_yamlsafe._Dumper, **options)


@pytest.mark.parametrize(
    "data",
    [{"": 1}, {"a\tb": 1}, {"k" * 200: 1}, {"a": "smile \U0001f600"}, {"a": ["tab\there"]}, {"a": "two\nlines"}],
    ids=["empty-key", "tab-key", "long-key", "astral", "control", "newline"],
)
def test_values_outside_the_guard_take_the_python_dumper(data):
    """The emitters differ on such text (libyaml writes `? ""` keys, escapes U+1F600): these stay on PyYAML's."""
    from generator.render import _yamlsafe

    assert _yamlsafe._dumper(data) is _yamlsafe._Dumper
    assert yaml_block(next(iter(data)), next(iter(data.values()))) == yaml.dump(
        data, Dumper=_yamlsafe._Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=10_000
    ).rstrip("\n")
