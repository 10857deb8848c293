"""Property tests: any spec, valid or broken, builds or is refused with Problems that name a file and key path."""

from __future__ import annotations

import tempfile
from pathlib import Path

import _hardening_strategies as S  # tests/hardening (on sys.path under pytest)
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.errors import FtgenError
from generator.spec import load

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
FEW = settings(FUZZ, max_examples=40)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _assert_clean(data, scratch: Path) -> str:
    outcome, faults, _ = S.classify(data, scratch, scratch / "outputs")
    assert not faults, "\n".join(faults)
    assert outcome in ("ok", "rejected")
    return outcome


@FUZZ
@given(S.valid_specs())
def test_valid_specs_build_or_say_why(scratch, data):
    _assert_clean(data, scratch)


@FUZZ
@given(S.mutated_specs())
def test_mutated_specs_are_refused_with_key_paths(scratch, data):
    _assert_clean(data, scratch)


@FUZZ
@given(S.junk)
def test_junk_documents_are_refused(scratch, data):
    assert _assert_clean(data, scratch) == "rejected"


def test_the_valid_strategy_mostly_builds(scratch):
    """Guard the generator itself: a good share of the valid specs must really build, or the fuzzing proves little."""
    outcomes = []

    @settings(FUZZ, max_examples=60)
    @given(S.valid_specs())
    def run(data):
        outcomes.append(_assert_clean(data, scratch))

    run()
    assert outcomes.count("ok") >= len(outcomes) // 4, outcomes


@FEW
@given(S.any_specs)
def test_spec_files_through_load(data):
    """The same documents as YAML files read by spec.load (the path a user's file takes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
        try:
            load(path)
        except FtgenError as exc:
            assert not S.problem_faults(exc.problems, data)
            assert all(p.file == str(path) for p in exc.problems if p.file.endswith(".yaml"))


yaml_tokens = st.sampled_from(
    [
        "name",
        "base_model",
        "data",
        "train",
        "path",
        "format",
        "- ",
        ": ",
        "\n",
        "  ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "&a ",
        "*a",
        "!!python/object:os.system ",
        "!!str ",
        "? ",
        "|",
        ">",
        "'",
        '"',
        "#",
        "---\n",
        "...\n",
        "%TAG ! tag:x,2000:\n",
        "\t",
        "<<: ",
        "\\u00",
        "@",
        "`",
        "\x00",
        "\ufeff",
    ]
) | st.text(max_size=6)


@FUZZ
@given(st.lists(yaml_tokens, max_size=40).map("".join) | st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_bytes_through_load(content):
    """Random text and bytes (YAML fragments, control characters, bad UTF-8) are refused, never a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(content)
        with pytest.raises(FtgenError) as exc:
            load(path)
        for p in exc.value.problems:
            assert p.file and p.message
            p.render()


@FEW
@given(S.any_specs)
def test_cli_build_exits_0_or_2_without_a_traceback(data):
    from click.testing import CliRunner

    from generator.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
        result = CliRunner().invoke(main, ["build", str(spec), "--out", str(Path(tmp) / "out")])
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        if result.exit_code == 2:
            assert "problem" in result.output
            assert not (Path(tmp) / "out").exists(), "a refused build wrote files"
