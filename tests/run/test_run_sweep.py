"""`ftgen run` on a sweep build against the fake framework: every trial is a normal run under its trial folder,
finished trials are kept and skipped on rerun, a failed trial does not stop the others."""

from __future__ import annotations

import json
from pathlib import Path

from _sweep import sweep_build

from generator.run.sweep import finished, run_sweep


def test_trials_run_one_after_another_and_finished_ones_are_kept(tmp_path, fake_env, cli):
    out = sweep_build(tmp_path)
    first = run_sweep(out, on_line=lambda *a: None, evaluate=False)
    assert [r.record.status for r in first] == ["succeeded", "succeeded"]
    assert not any(r.skipped for r in first)
    for r in first:
        run_dir = Path(r.record.path)
        assert run_dir.parent == (out / r.trial["dir"] / "runs").resolve()
        saved = json.loads((run_dir / "run.json").read_text())
        assert saved["name"] == f"tiny-cpu-{r.trial['id']}"
        assert saved["sweep_trial"] == {"sweep": "tiny-cpu", "id": r.trial["id"], "parameters": r.trial["parameters"]}
    again = run_sweep(out, on_line=lambda *a: None, evaluate=False)
    assert all(r.skipped for r in again)
    assert [r.record.run_id for r in again] == [r.record.run_id for r in first]
    result = cli("run", str(out), "--no-eval", "--quiet")
    assert result.exit_code == 0, result.output
    assert "finished earlier: kept" in result.output


def test_a_failed_trial_does_not_stop_the_others(tmp_path, fake_env, monkeypatch, cli):
    out = sweep_build(tmp_path)
    monkeypatch.setenv("FAKE_FAIL_AT", "3")
    result = cli("run", str(out), "--no-eval", "--quiet")
    assert result.exit_code == 3, result.output
    assert "t00-lr1e-3: failed" in result.output and "t01-lr5e-3: failed" in result.output
    monkeypatch.delenv("FAKE_FAIL_AT")
    trials = sorted((out / "trials").iterdir())
    assert all(finished(t) is None for t in trials)
    result = cli("run", str(out), "--no-eval", "--quiet")
    assert result.exit_code == 0, result.output
    assert all(finished(t) is not None for t in trials)
