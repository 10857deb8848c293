"""`ftgen compare outputs/<name>` on a sweep: trials ranked by the metric (scores maximised, losses minimised), the
best marked with its distance from the base model, unscored trials last, sweep.md / sweep.png written, the sweep
logged to MLflow when the spec tracks with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from generator.build import build_file
from generator.evaluate import sweep as sweep_compare
from generator.run.record import RunRecord
from generator.write import write_all

REPO = Path(__file__).resolve().parents[2]


def _build(tmp_path: Path, metric: str, extra: str = "") -> Path:
    text = (REPO / "examples" / "tiny-cpu.yaml").read_text() + extra
    text += f"sweep:\n  parameters:\n    overrides.lora_r: [4, 8, 16]\n  metric: {metric}\n"
    # beside the example (its relative paths hold), named for this process and test: xdist workers build at once
    spec = REPO / "examples" / f".sweep-compare-{os.getpid()}-{tmp_path.name}.yaml"
    spec.write_text(text)
    try:
        b = build_file(spec, tmp_path / "outputs")
    finally:
        spec.unlink()
    write_all(b.out_dir, b.files)
    return b.out_dir


def _record(trial_dir: Path, score: float | None, loss: float, status: str = "succeeded") -> None:
    run_dir = trial_dir / "runs" / f"20261202-000000-{trial_dir.name}"
    run_dir.mkdir(parents=True)
    rec = RunRecord(run_id=run_dir.name, name=trial_dir.name, framework="llamafactory", path=str(run_dir))
    rec.status = status
    rec.metrics = {"eval_loss": loss}
    if score is not None:
        base = {"exact_match": 0.0, "contains": 0.0, "token_f1": 0.1, "rouge_l": 0.0}
        rec.eval = {"summary": {"base": base, "fine-tuned": dict(base, token_f1=score)}}
    rec.save()


@pytest.mark.parametrize(
    ("metric", "order", "best_vs_base"),
    [("eval.token_f1", ["t01-r8", "t00-r4", "t02-r16"], 0.8), ("eval_loss", ["t00-r4", "t01-r8", "t02-r16"], None)],
)
def test_trials_are_ranked_by_the_metric(tmp_path, cli, metric, order, best_vs_base):
    out = _build(tmp_path, metric)
    _record(out / "trials" / "t00-r4", 0.5, loss=1.0)
    _record(out / "trials" / "t01-r8", 0.9, loss=2.0)
    _record(out / "trials" / "t02-r16", None, loss=3.0, status="failed")
    result = cli("compare", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    scored = [t["id"] for t in data["trials"] if t["rank"]]
    assert scored == [t for t in order if t != "t02-r16"]
    assert [t["id"] for t in data["trials"]][-1] == "t02-r16" and data["trials"][-1]["rank"] is None
    assert data["best"] == order[0] and data["trials"][0]["best"]
    assert data["trials"][0]["vs_base"] == (pytest.approx(best_vs_base) if best_vs_base else None)
    assert (out / "sweep.png").stat().st_size > 1000
    assert f"{order[0]} (best)" in (out / "sweep.md").read_text()
    table = cli("compare", str(out))
    assert "best" in table.output and order[0] in table.output


def test_the_sweep_is_logged_to_mlflow(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = _build(tmp_path, "eval.token_f1", f"tracking: {{backend: mlflow, uri: '{store}'}}\n")
    _record(out / "trials" / "t00-r4", 0.5, loss=1.0)
    data = json.loads((out / "sweep.json").read_text())
    ranking = sweep_compare.rank(out, data)
    run_id = sweep_compare.log_to_tracker(out, ranking, data)
    from mlflow.tracking import MlflowClient

    from generator.run import read_json
    from generator.tracking import Tracking

    uri = Tracking.from_dict(read_json(out / "plan.json", "plan")["tracking"]).env(out.resolve())["MLFLOW_TRACKING_URI"]
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.tags["ftgen.best_trial"] == "t00-r4"
    assert run.data.metrics["eval.token_f1.t00-r4"] == 0.5
    assert run.data.metrics["best.eval.token_f1.vs_base"] == pytest.approx(0.4)
