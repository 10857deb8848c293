"""One tracker run per `ftgen run`: ftgen opens it before training, the trainer logs into it, ftgen adds its facts.

MLflow: ftgen creates the run (MlflowClient; the build's store, a SQLite file beside the spec by default), logs
the plan's decisions, the spec hash and the memory estimate, passes MLFLOW_RUN_ID so the trainer's
MLflowCallback logs its loss into the same run, then logs the eval-set scores and closes the run with the
run's status. W&B: ftgen names the run (WANDB_RUN_ID = the run id, WANDB_RESUME=allow) so the trainer's run is
found from run.json. MLflow is imported here only, and only when a build has it as a backend.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..tracking import Tracking, local_store

MAX_PARAM = 6000  # MLflow's limit on a param value (characters)
_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


def open_run(tracked: Tracking, record, plan: dict, build_dir: Path) -> dict[str, str]:
    """Create this run's tracker run(s); put the link in record.tracker; return the trainer's variables."""
    env = tracked.env(build_dir, run_name=record.run_id)
    link: dict[str, Any] = {}
    if tracked.mlflow:
        ml = _mlflow_open(tracked, record, plan, build_dir, env["MLFLOW_TRACKING_URI"])
        link["mlflow"] = ml
        env["MLFLOW_RUN_ID"] = ml["run_id"]
        env["MLFLOW_EXPERIMENT_ID"] = ml["experiment_id"]
    if tracked.wandb:
        wandb_id = re.sub(r"[^A-Za-z0-9_-]", "-", record.run_id)[:64]
        env.update({"WANDB_RUN_ID": wandb_id, "WANDB_RESUME": "allow"})
        link["wandb"] = {"project": tracked.wandb_project, "run_id": wandb_id, "dir": str(Path(record.path))}
        env["WANDB_DIR"] = str(Path(record.path))  # wandb/ lands in the run folder (git-ignored with runs/)
    if tracked.backends and "tensorboard" in tracked.backends:
        link["tensorboard"] = {"logdir": str(Path(record.path) / "model" / "runs")}
    record.tracker = link
    return env


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _mlflow_open(tracked: Tracking, record, plan: dict, build_dir: Path, uri: str) -> dict[str, str]:
    from mlflow.entities import Metric, Param, RunTag

    client = _client(uri)
    name = tracked.mlflow_experiment or record.name
    exp = client.get_experiment_by_name(name)
    if exp is None:
        store = local_store(tracked.mlflow_uri or "", build_dir) if tracked.mlflow_uri else None
        # a local store keeps its artifacts beside it, not in whatever folder ftgen was started from
        artifacts = (store.parent / "mlartifacts").as_uri() if store is not None else None
        exp_id = client.create_experiment(name, artifact_location=artifacts)
    else:
        exp_id = exp.experiment_id
    tags = {
        **tracked.tags,
        "ftgen.run_id": record.run_id,
        "ftgen.framework": record.framework,
        "ftgen.spec_sha256": str(plan.get("spec_sha256", "")),
        "ftgen.run_folder": str(record.path),
    }
    run = client.create_run(exp_id, tags=tags, run_name=record.run_id)
    run_id = run.info.run_id
    params = [Param(f"ftgen.{k}", v) for k, v in _plan_params(plan).items()]
    metrics = [Metric(f"ftgen.{k}", v, 0, 0) for k, v in _plan_metrics(plan).items()]
    for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=params[i : i + 100])
    client.log_batch(run_id, metrics=metrics, tags=[RunTag("ftgen.name", record.name)])
    client.log_text(run_id, json.dumps(plan, indent=1, default=str), "ftgen/plan.json")
    return {
        "tracking_uri": uri,
        "experiment_id": str(exp_id),
        "experiment": name,
        "run_id": run_id,
        "started_ms": run.info.start_time,
    }


def _plan_params(plan: dict) -> dict[str, str]:
    """The plan's decisions as params: ftgen.<key> = value (JSON for lists and mappings)."""
    out = {
        "spec_sha256": str(plan.get("spec_sha256", "")),
        "method": str(plan.get("method")),
        "task": str(plan.get("task")),
    }
    for d in plan.get("decisions") or []:
        if not isinstance(d, dict) or "key" not in d:
            continue
        v = d.get("value")
        text = v if isinstance(v, str) else json.dumps(v, default=str)
        out[f"plan.{d['key']}"] = text[:MAX_PARAM]
        out[f"rule.{d['key']}"] = str(d.get("rule", ""))[:MAX_PARAM]
    return out


def _plan_metrics(plan: dict) -> dict[str, float]:
    """The memory estimate (GiB per component and in total) and the time estimate as metrics."""
    out: dict[str, float] = {}
    memory = plan.get("memory") or {}
    if isinstance(memory.get("total_gb"), (int, float)):
        out["memory_estimate_gb"] = float(memory["total_gb"])
    for k, v in (memory.get("components") or {}).items():
        if isinstance(v, (int, float)):
            out[f"memory_estimate_gb.{k}"] = float(v)
    for k in ("hours", "steps", "total_tokens"):
        v = (plan.get("time_cost") or {}).get(k)
        if isinstance(v, (int, float)):
            out[f"estimate.{k}"] = float(v)
    return out


def close_run(record) -> None:
    """After training (and evaluation): the eval-set scores into the MLflow run, and its final status."""
    ml = (record.tracker or {}).get("mlflow") if isinstance(record.tracker, dict) else None
    if not ml:
        return
    from mlflow.entities import Metric

    client = _client(ml["tracking_uri"])
    _adopt_strays(client, ml)
    metrics = []
    ev = record.eval if isinstance(record.eval, dict) else {}
    for side, scores in (ev.get("summary") or {}).items():
        for m, v in (scores or {}).items():
            if isinstance(v, (int, float)):
                metrics.append(Metric(f"eval.{side}.{m}", float(v), 0, 0))
    for m, v in (ev.get("delta") or {}).items():
        if isinstance(v, (int, float)):
            metrics.append(Metric(f"eval.delta.{m}", float(v), 0, 0))
    if metrics:
        client.log_batch(ml["run_id"], metrics=metrics)
    if ev.get("error"):
        client.set_tag(ml["run_id"], "ftgen.eval_error", str(ev["error"])[:5000])
    client.set_terminated(ml["run_id"], _STATUS.get(record.status, "FINISHED"))


def _adopt_strays(client, ml: dict) -> None:
    """Fold into ftgen's run what the trainer logged after it: HF's MLflowCallback ends the run at the end of
    training and MLflow forgets MLFLOW_RUN_ID once used, so a framework's evaluation after training (LLaMA-Factory
    do_eval) starts a second run. Runs of the experiment started since ftgen's run that are not another ftgen
    run's are copied metric by metric into ftgen's run and deleted (soft: `mlflow gc` removes them for good)."""
    from mlflow.entities import Metric

    since = ml.get("started_ms")
    if not since:
        return
    for stray in client.search_runs([ml["experiment_id"]], filter_string=f"attributes.start_time >= {int(since)}"):
        if stray.info.run_id == ml["run_id"] or "ftgen.run_id" in stray.data.tags:
            continue
        history = [
            Metric(m.key, m.value, m.timestamp, m.step)
            for key in stray.data.metrics
            for m in client.get_metric_history(stray.info.run_id, key)
        ]
        for i in range(0, len(history), 1000):
            client.log_batch(ml["run_id"], metrics=history[i : i + 1000])
        client.set_tag(ml["run_id"], "ftgen.adopted_runs", stray.info.run_id)
        client.delete_run(stray.info.run_id)
