"""Every kind of bad spec exits 2, lists every expected problem, and never shows a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

CASES = sorted((Path(__file__).parent / "cases" / "bad").glob("*.yaml"))


def _expectations(path: Path) -> list[str]:
    return [
        line.split("# expect:", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("# expect:")
    ]


def test_there_are_at_least_15_kinds():
    assert len(CASES) >= 15


@pytest.mark.parametrize("spec", CASES, ids=lambda p: p.stem)
def test_bad_spec_exits_2_with_every_problem(spec, cli, tmp_path):
    result = cli("build", str(spec), "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for expected in _expectations(spec):
        assert expected in result.output, f"{expected!r} not in:\n{result.output}"
    assert not any(tmp_path.iterdir()), "a failed build must not write anything"
