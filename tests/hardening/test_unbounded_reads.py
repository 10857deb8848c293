"""Endless and pseudo files never hang or leak through any command (issue 12, item 5).

Each command runs in its own process with a deadline: /dev/zero, a FIFO nobody writes, a symlink to either,
or /proc/self/environ, put where a spec, a config, a committed output, plan.json, a run record, an eval set or
a run's config is read. The outcome must be a clean error (exit 2), a finding, or a listed broken record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60  # seconds; each case takes well under one, a hang takes forever
EVIL = ["dev-zero", "fifo", "link-to-dev-zero", "link-to-fifo", "proc-environ"]


def _plant(path: Path, kind: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "proc-environ":
        return Path("/proc/self/environ")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "link-to-fifo":
        fifo = path.with_name(path.name + ".fifo")
        os.mkfifo(fifo)
        path.symlink_to(fifo)
    return path


def _ftgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "generator.cli", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"ftgen {' '.join(args)} read forever")


@pytest.fixture
def built(tmp_path):
    """A written build of the tiny CPU example, and a succeeded run record in it."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    res = _ftgen("build", "examples/tiny-cpu.yaml", "--out", "outputs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "outputs" / "tiny-cpu"
    run = out / "runs" / "20250101-000000-ll-abcd"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text((out / "llamafactory.yaml").read_text())
    record = {
        "run_id": run.name,
        "name": "tiny-cpu",
        "framework": "llamafactory",
        "path": str(run),
        "status": "succeeded",
        "started_at": "2025-01-01T00:00:00Z",
        "host": "h",
        "config_copy": "config.yaml",
    }
    (run / "run.json").write_text(json.dumps(record))
    return tmp_path


@pytest.mark.parametrize("kind", EVIL)
def test_lint_and_convert_and_validate_of_an_endless_config(tmp_path, kind):
    target = _plant(tmp_path / "config.yaml", kind)
    for args in (
        ["lint", str(target)],
        ["convert", str(target), "--to", "axolotl", "--framework", "llamafactory"],
        ["validate", str(target), "--framework", "llamafactory"],
    ):
        res = _ftgen(*args, cwd=tmp_path)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr


@pytest.mark.parametrize("kind", EVIL)
def test_build_of_an_endless_spec(tmp_path, kind):
    target = _plant(tmp_path / "spec.yaml", kind)
    res = _ftgen("build", str(target), "--out", "out", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "link-to-fifo"])
def test_check_with_an_endless_committed_output(built, kind):
    _plant(built / "outputs" / "tiny-cpu" / "PLAN.md", kind)
    res = _ftgen("check", "examples/tiny-cpu.yaml", "--out", "outputs", cwd=built)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "PLAN.md" in res.stderr


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "link-to-fifo"])
def test_run_with_an_endless_plan_or_config(built, kind):
    out = built / "outputs" / "tiny-cpu"
    _plant(out / "plan.json", kind)
    res = _ftgen("run", str(out), "--without-eval-set", "--framework", "llamafactory", cwd=built)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "link-to-fifo"])
def test_runs_show_and_report_with_an_endless_run_record(built, kind):
    run = built / "outputs" / "tiny-cpu" / "runs" / "20250101-000000-ll-abcd"
    _plant(run / "run.json", kind)
    listed = _ftgen("runs", "outputs", "--json", cwd=built)
    assert listed.returncode == 0, listed.stderr
    assert [r["status"] for r in json.loads(listed.stdout)] == ["broken"]
    for args in (["show", run.name], ["report", run.name], ["eval", run.name], ["export", run.name]):
        res = _ftgen(*args, "--root", "outputs", cwd=built)
        assert res.returncode == 2 and "Traceback" not in res.stderr, (args, res.stderr)


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero"])
def test_export_with_an_endless_run_config(built, kind):
    run = built / "outputs" / "tiny-cpu" / "runs" / "20250101-000000-ll-abcd"
    _plant(run / "config.yaml", kind)
    (run / "model").mkdir()
    (run / "model" / "adapter_config.json").write_text("{}")
    res = _ftgen("export", run.name, "--root", "outputs", cwd=built)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
