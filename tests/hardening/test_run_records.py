"""Odd and damaged run records (issue 12, item 7): listed as broken, clean errors elsewhere, nothing lost."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from generator.errors import FtgenError
from generator.run import RunRecord, find_runs
from generator.run import record as record_mod

REPO = Path(__file__).resolve().parents[2]

# A record as ftgen 0.1.0 wrote it (before the schema): no schema_version, no boot id or start times.
OLD_RECORD = {
    "run_id": "20250101-000000-ll-ab12",
    "name": "support-bot",
    "framework": "llamafactory",
    "path": "",
    "status": "succeeded",
    "started_at": "2025-01-01T00:00:00Z",
    "finished_at": "2025-01-01T00:10:00Z",
    "exit_code": 0,
    "signal": None,
    "pid": 4242,
    "child_pid": 4243,
    "host": "old-host",
    "command": ["llamafactory-cli", "train", "config.yaml"],
    "launcher": "local",
    "versions": {"llamafactory": "0.9.5"},
    "env_python": "/envs/lf/bin/python",
    "config_sha256": "ab" * 32,
    "config_copy": "config.yaml",
    "spec_sha256": "cd" * 32,
    "datasets": {},
    "git_commit": None,
    "git_dirty": None,
    "checkpoints": [{"path": "/x/checkpoint-10", "step": 10}],
    "last_checkpoint": "/x/checkpoint-10",
    "metrics": {"global_step": 10, "eval_loss": 1.25},
    "history": [],
    "curve": None,
    "attempts": [],
    "merged_model": None,
    "eval": {},
    "wall_seconds": 12.5,
    "note": None,
}

BROKEN = {
    "json-list": "[1, 2, 3]",
    "json-string": '"hello"',
    "truncated": json.dumps(OLD_RECORD)[:150],
    "empty": "",
    "negative-pid": json.dumps({**OLD_RECORD, "pid": -1}),
    "pid-as-text": json.dumps({**OLD_RECORD, "pid": "1234"}),
    "metrics-as-list": json.dumps({**OLD_RECORD, "metrics": [1, 2]}),
    "checkpoints-as-number": json.dumps({**OLD_RECORD, "checkpoints": 3}),
    "unknown-status": json.dumps({**OLD_RECORD, "status": "exploded"}),
    "no-run-id": json.dumps({k: v for k, v in OLD_RECORD.items() if k != "run_id"}),
    "not-utf8": b"\xff\xfe{}".decode("latin-1"),
}


def _plant(root: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    run_dir = root / name / "runs" / f"20250101-000000-ll-{name}"
    run_dir.mkdir(parents=True)
    data = text.encode("latin-1") if name == "not-utf8" else text.encode(encoding)
    (run_dir / "run.json").write_bytes(data)
    return run_dir


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "outputs"
    good = root / "good" / "runs" / OLD_RECORD["run_id"]
    good.mkdir(parents=True)
    (good / "run.json").write_text(json.dumps({**OLD_RECORD, "path": str(good)}))
    for name, text in BROKEN.items():
        _plant(root, name, text)
    return root


def test_runs_lists_broken_records_beside_good_ones(tree, cli):
    result = cli("runs", str(tree), "--json")
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).parent.parent.name: r for r in json.loads(result.output)}
    assert rows["good"]["status"] == "succeeded" and rows["good"]["eval_loss"] == 1.25
    for name in BROKEN:
        assert rows[name]["status"] == "broken", name
        assert rows[name]["note"], name
    assert "pid" in rows["negative-pid"]["note"] and ">= 1" in rows["negative-pid"]["note"]
    assert "not valid JSON" in rows["truncated"]["note"]
    text = cli("runs", str(tree))
    assert text.exit_code == 0 and "Traceback" not in text.output
    assert sum(1 for line in text.output.splitlines() if line.endswith("  broken")) == len(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("command", ["show", "report", "export", "eval"])
def test_a_broken_record_is_a_clean_error_everywhere(tree, cli, name, command):
    ref = f"20250101-000000-ll-{name}"
    result = cli(command, ref, "--root", str(tree))
    assert result.exit_code == 2, result.output
    assert "problem" in result.output and "run.json" in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("name", ["truncated", "json-list", "negative-pid"])
def test_resume_of_a_broken_record_is_a_clean_error(tree, cli, name):
    result = cli("run", "--resume", f"20250101-000000-ll-{name}", str(tree))
    assert result.exit_code == 2 and "run.json" in result.output, result.output
    assert isinstance(result.exception, SystemExit)


def test_a_record_from_before_the_schema_is_read_and_kept(tree):
    run_dir = tree / "good" / "runs" / OLD_RECORD["run_id"]
    record = RunRecord.load(run_dir)
    assert record.schema_version == 0 and record.boot_id is None and record.status == "succeeded"
    assert record.metrics["eval_loss"] == 1.25 and record.child_cmdline is None


def test_unknown_keys_survive_a_load_and_a_save(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    future = {
        **OLD_RECORD,
        "path": str(run_dir),
        "schema_version": 7,
        "slurm_job": {"id": 123},
        "tracker_url": "https://x",
    }
    (run_dir / "run.json").write_text(json.dumps(future))
    record = RunRecord.load(run_dir)
    assert record.extra == {"slurm_job": {"id": 123}, "tracker_url": "https://x"}
    record.note = "touched"
    record.save()
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["slurm_job"] == {"id": 123} and saved["tracker_url"] == "https://x"
    assert saved["schema_version"] == 7 and saved["note"] == "touched"


def test_markup_in_a_record_is_printed_as_written(tmp_path, cli):
    root = tmp_path / "outputs"
    run_dir = root / "x" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    evil = {**OLD_RECORD, "run_id": "r1[/bold]", "name": "[red]x[/] :x: \x1b[31m", "path": str(run_dir)}
    (run_dir / "run.json").write_text(json.dumps(evil))
    listed = cli("runs", str(root))
    assert listed.exit_code == 0, listed.output
    assert "[red]x[/] :x: \\x1b[31m" in listed.output and "r1[/bold]" in listed.output
    shown = cli("show", str(run_dir))
    assert shown.exit_code == 0 and "[red]x[/] :x:" in shown.output, shown.output
    md = cli("show", str(run_dir), "--markdown")
    assert "\\[red\\]x\\[/\\]" in md.output


def test_every_saved_record_matches_the_schema(tmp_path):
    rec = RunRecord(run_id="r", name="n", framework="axolotl", path=str(tmp_path))
    rec.pid, rec.command = 1234, ["a", "--hf_token", "hf_abcdefghijklmnopqrstuvwx"]
    rec.save()
    data = json.loads((tmp_path / "run.json").read_text())
    Draft202012Validator(record_mod.schema()).validate(data)
    assert data["schema_version"] == record_mod.SCHEMA_VERSION and data["host"] == socket.gethostname()


def test_a_field_is_defined_once_in_the_schema():
    """Adding a field is one change in schemas/run.schema.json: the record reads names and defaults from it."""
    schema = json.loads((REPO / "schemas" / "run.schema.json").read_text())
    assert "ADDING A FIELD" in schema["description"]
    assert set(record_mod.fields()) == set(schema["properties"])
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    rec = RunRecord(run_id="r", name="n", framework="f", path="/x")
    for name, prop in schema["properties"].items():
        if "default" in prop and name != "schema_version":
            assert getattr(rec, name) == prop["default"], name
    with pytest.raises(AttributeError, match="run.schema.json"):
        rec.not_a_field = 1
    with pytest.raises(TypeError, match="run.schema.json"):
        RunRecord(run_id="r", name="n", framework="f", path="/x", not_a_field=1)


def test_a_missing_record_is_a_clean_error(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(FtgenError, match="run record file not found"):
        RunRecord.load(tmp_path / "r")
    assert find_runs(tmp_path) == []


def test_a_full_run_id_is_never_ambiguous_with_a_longer_one(tmp_path, cli):
    root = tmp_path / "outputs"
    for run_id in ("20250101-000000-ll-ab12", "20250101-000000-ll-ab12x"):
        d = root / "job" / "runs" / run_id
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({**OLD_RECORD, "run_id": run_id, "path": str(d)}))
    shown = cli("show", "20250101-000000-ll-ab12", "--root", str(root))
    assert shown.exit_code == 0 and "20250101-000000-ll-ab12x" not in shown.output, shown.output
    assert cli("show", "20250101-000000-ll-ab", "--root", str(root)).exit_code == 2  # a real prefix stays ambiguous


def test_runs_is_read_only_and_refresh_saves_the_derived_status(tmp_path, cli):
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    d = tmp_path / "outputs" / "job" / "runs" / "20250101-000000-ll-ab12"
    d.mkdir(parents=True)
    record = {**OLD_RECORD, "path": str(d), "status": "running", "host": socket.gethostname(), "pid": gone.pid}
    (d / "run.json").write_text(json.dumps(record))
    before = (d / "run.json").read_bytes()
    listed = cli("runs", str(tmp_path / "outputs"), "--json")
    [row] = json.loads(listed.output)
    assert row["status"] == "interrupted" and row["stale"] and "stale" in row["note"]
    assert cli("show", str(d)).exit_code == 0
    assert (d / "run.json").read_bytes() == before, "runs and show never write"
    refreshed = cli("runs", str(tmp_path / "outputs"), "--refresh")
    assert refreshed.exit_code == 0
    saved = json.loads((d / "run.json").read_text())
    assert saved["status"] == "interrupted" and "stale" in saved["note"] and saved["finished_at"]
    assert saved["schema_version"] == record_mod.SCHEMA_VERSION
