"""`ftgen check` (= `ftgen build --check`): rebuild in memory, compare with what is committed, never write."""

from __future__ import annotations

import os
import pathlib
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from generator.build import build_file
from generator.write import write_all

CASES = Path(__file__).parent / "cases"
SPEC = CASES / "good" / "qlora-5k-axolotl.yaml"
BAD = CASES / "bad" / "04-bad-enum.yaml"


@pytest.fixture
def built(tmp_path) -> Path:
    """A spec and its committed outputs, as a repository would hold them."""
    spec = tmp_path / "specs" / SPEC.name
    spec.parent.mkdir()
    shutil.copyfile(SPEC, spec)
    b = build_file(spec, tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    return tmp_path


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def _out_dir(root: Path) -> Path:
    return root / "outputs" / "qlora-5k-axolotl"


def test_clean_outputs_exit_0(cli, built):
    res = cli("check", str(built / "specs" / SPEC.name), "--out", str(built / "outputs"))
    assert res.exit_code == 0, res.output
    assert "ok" in res.output and "would regenerate" not in res.output


def test_drift_exits_1_and_says_would_regenerate(cli, built):
    cfg = _out_dir(built) / "axolotl.yaml"
    cfg.write_text(cfg.read_text().replace("learning_rate: 0.0002", "learning_rate: 0.001"))
    res = cli("check", str(built / "specs" / SPEC.name), "--out", str(built / "outputs"), "--diff")
    assert res.exit_code == 1
    assert "would regenerate" in res.output and "axolotl.yaml" in res.output
    assert "-learning_rate: 0.001" in res.output and "+learning_rate: 0.0002" in res.output
    assert "(committed)" in res.output and "(would regenerate)" in res.output


def test_missing_outputs_exit_1(cli, built):
    (_out_dir(built) / "PLAN.md").unlink()
    res = cli("check", str(built / "specs" / SPEC.name), "--out", str(built / "outputs"))
    assert res.exit_code == 1 and "PLAN.md (missing)" in res.output


def test_changed_spec_is_drift(cli, built):
    spec = built / "specs" / SPEC.name
    spec.write_text(spec.read_text().replace("examples: 5000", "examples: 8000"))
    res = cli("check", str(spec), "--out", str(built / "outputs"))
    assert res.exit_code == 1 and "would regenerate" in res.output


def test_build_check_is_the_same_command(cli, built):
    args = [str(built / "specs" / SPEC.name), "--out", str(built / "outputs")]
    assert cli("build", "--check", *args).exit_code == cli("check", *args).exit_code == 0
    (_out_dir(built) / "plan.json").write_text("{}\n")
    assert cli("build", "--check", *args).exit_code == cli("check", *args).exit_code == 1


def test_invalid_spec_exits_2_without_traceback(cli, tmp_path):
    res = cli("check", str(BAD), "--out", str(tmp_path))
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert not any(tmp_path.iterdir())


def test_check_never_writes(cli, built):
    (_out_dir(built) / "axolotl.yaml").write_text("drifted: true\n")
    before = _snapshot(built)
    assert cli("check", str(built / "specs" / SPEC.name), "--out", str(built / "outputs"), "--diff").exit_code == 1
    assert _snapshot(built) == before


def test_check_works_on_a_read_only_tree(cli, built, monkeypatch):
    """chmod a-w the whole tree (enforced for non-root users) and make every write path raise (for root)."""
    spec = built / "specs" / SPEC.name

    def refuse(*args, **kwargs):
        raise PermissionError("read-only tree")

    for target, name in (
        (pathlib.Path, "write_text"),
        (pathlib.Path, "write_bytes"),
        (pathlib.Path, "mkdir"),
        (pathlib.Path, "touch"),
        (os, "replace"),
        (os, "rename"),
        (tempfile, "mkstemp"),
    ):
        monkeypatch.setattr(target, name, refuse)
    modes = {}
    for p in [built, *built.rglob("*")]:
        modes[p] = p.stat().st_mode
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        res = cli("check", str(spec), "--out", str(built / "outputs"))
        assert res.exit_code == 0, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
    finally:
        for p, mode in sorted(modes.items(), key=lambda kv: -len(str(kv[0]))):
            p.chmod(mode)


def test_no_spec_found_is_invalid_input(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli("check")
    assert res.exit_code == 2


def test_default_specs_come_from_examples(cli, built, monkeypatch):
    (built / "examples").mkdir()
    shutil.move(built / "specs" / SPEC.name, built / "examples" / SPEC.name)  # one spec per name (else exit 2)
    monkeypatch.chdir(built)
    assert cli("check").exit_code == 0


def _as_if_written_by(out_dir: Path, old: str) -> None:
    """Rewrite committed outputs as another ftgen version wrote them: the version in headers and plan.json."""
    from generator import __version__

    for path in out_dir.rglob("*"):
        if path.is_file():
            text = path.read_text()
            text = text.replace(f'"ftgen_version": "{__version__}"', f'"ftgen_version": "{old}"')
            path.write_text(text.replace(f"ftgen {__version__}", f"ftgen {old}"))


def test_drift_from_an_older_ftgen_says_so_not_a_changed_spec(cli, built):
    from generator import __version__

    _as_if_written_by(_out_dir(built), "0.0.9")
    res = cli("check", str(built / "specs" / SPEC.name), "--out", str(built / "outputs"))
    assert res.exit_code == 1 and "would regenerate" in res.output
    assert f"generated by ftgen 0.0.9, this is {__version__}" in res.output
    assert "spec is unchanged" in res.output and "the spec changed" not in res.output
    assert "regenerate with `ftgen build" in res.output


def test_drift_from_a_changed_spec_says_the_spec_changed(cli, built):
    spec = built / "specs" / SPEC.name
    spec.write_text(spec.read_text().replace("examples: 5000", "examples: 8000"))
    res = cli("check", str(spec), "--out", str(built / "outputs"))
    assert res.exit_code == 1 and "plan.json" in res.output
    assert "the spec changed since the outputs were built" in res.output and "generated by ftgen" not in res.output


def test_drift_with_spec_and_version_both_changed_names_both(built):
    from generator.check import compare

    _as_if_written_by(_out_dir(built), "0.0.9")
    spec = built / "specs" / SPEC.name
    spec.write_text(spec.read_text() + "\n# changed\n")
    drift = compare(build_file(spec, built / "outputs", frozen=True))
    assert not drift.clean
    assert "the spec changed" in drift.cause and "generated by ftgen 0.0.9" in drift.cause


def test_hand_edited_outputs_are_neither_spec_nor_version(built):
    from generator.check import compare

    cfg = _out_dir(built) / "axolotl.yaml"
    cfg.write_text(cfg.read_text() + "# edited\n")
    drift = compare(build_file(built / "specs" / SPEC.name, built / "outputs", frozen=True))
    assert drift.changed == ("axolotl.yaml",)
    assert "the outputs were edited" in drift.cause and "the spec changed" not in drift.cause
