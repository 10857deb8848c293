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
