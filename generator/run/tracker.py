"""One tracker run per `ftgen run`: ftgen opens it before training, the trainer logs into it, ftgen adds its facts.

MLflow: ftgen creates the run (MlflowClient; the build's store, a SQLite file beside the spec by default), logs
the plan's decisions, the spec hash and the memory estimate, passes MLFLOW_RUN_ID so the trainer's
MLflowCallback logs its loss into the same run, then logs the eval-set scores and closes the run with the
run's status. W&B: ftgen names the run (WANDB_RUN_ID = the run id, WANDB_RESUME=allow, WANDB_DIR = the run
folder), opens it before training with the same facts (config ftgen.*, summary ftgen.memory_estimate_gb...), and
after evaluation resumes it for the eval-set scores; the trainer resumes the same run in between. Offline
(WANDB_MODE=offline) each of the three writes its own offline-run-*-<id> folder, which `wandb sync` joins into one
run. MLflow and wandb are imported here only, and only when a build has them as a backend.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..tracking import WANDB_REQUIREMENT, Tracking, local_store

MAX_PARAM = 6000  # MLflow's limit on a param value (characters)
_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


def open_run(tracked: Tracking, record, plan: dict, build_dir: Path) -> dict[str, str]:
    """Create this run's tracker run(s); put the link in record.tracker; return the trainer's variables."""
    env = tracked.env(build_dir, run_name=record.run_id)
    link: dict[str, Any] = {}
    if tracked.wandb:  # first: a W&B that cannot start leaves no MLflow run behind
        wandb_id = re.sub(r"[^A-Za-z0-9_-]", "-", record.run_id)[:64]
        env.update({"WANDB_RUN_ID": wandb_id, "WANDB_RESUME": "allow"})
        link["wandb"] = {"project": tracked.wandb_project, "run_id": wandb_id, "dir": str(Path(record.path))}
        env["WANDB_DIR"] = str(Path(record.path))  # wandb/ lands in the run folder (git-ignored with runs/)
        _wandb_log(
            link["wandb"],
            name=env.get("WANDB_NAME") or record.run_id,
            tags=[f"{k}:{v}"[:64] for k, v in tracked.tags.items()],
            config=_plan_config(plan),
            summary={f"ftgen.{k}": v for k, v in _plan_metrics(plan).items()},
        )
    if tracked.mlflow:
        ml = _mlflow_open(tracked, record, plan, build_dir, env["MLFLOW_TRACKING_URI"])
        link["mlflow"] = ml
        env["MLFLOW_RUN_ID"] = ml["run_id"]
        env["MLFLOW_EXPERIMENT_ID"] = ml["experiment_id"]
    if tracked.backends and "tensorboard" in tracked.backends:
        link["tensorboard"] = {"logdir": str(Path(record.path) / "model" / "runs")}
    record.tracker = link
    return env


def missing(tracked: Tracking, plan_file: str) -> list[Problem]:
    """What ftgen's own Python lacks to log into the spec's trackers (wandb is an optional extra), as problems
    naming the install command; checked before training."""
    if not tracked.wandb or importlib.util.find_spec("wandb") is not None:
        return []
    command = shlex.join([sys.executable, "-m", "pip", "install", WANDB_REQUIREMENT])
    return [
        Problem(
            plan_file,
            "tracking.backend",
            f"ftgen logs its own facts (plan, memory estimate, eval scores) into the W&B run, and its Python "
            f"({sys.executable}) cannot import wandb",
            found="wandb",
            allowed=f"install ftgen's `wandb` extra: {command}",
        )
    ]


def _wandb_mode() -> str | None:
    """The mode ftgen's own W&B calls use: the caller's WANDB_MODE (offline, online...), but not an off switch the
    trainer does not get either (Env.subprocess_env drops it when the spec asks for W&B)."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    return "online" if mode == "disabled" else None


def _wandb_log(
    link: dict, *, summary: dict, config: dict | None = None, name: str | None = None, tags=None, exit_code: int = 0
) -> None:
    """Open (or resume) the W&B run `link` names, put `config` and `summary` in it, and finish: no W&B process is
    left running while the trainer writes the same run."""
    import wandb

    settings = wandb.Settings(
        console="off",
        silent=True,
        save_code=False,
        disable_git=True,
        disable_code=True,
        disable_job_creation=True,
        x_disable_stats=True,
        x_disable_meta=True,
        x_save_requirements=False,
    )
    run = wandb.init(
        id=link["run_id"],
        project=link.get("project") or None,
        name=name,
        tags=tags or None,
        dir=link["dir"],
        resume="allow",
        mode=_wandb_mode(),
        config=config,
        settings=settings,
    )
    try:
        run.summary.update(summary)
    finally:
        run.finish(exit_code=exit_code)
        wandb.teardown()


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


def _plan_config(plan: dict) -> dict[str, Any]:
    """The plan's decisions as W&B config: the MLflow param names, the values as the plan has them."""
    out: dict[str, Any] = {f"ftgen.{k}": plan.get(k) for k in ("spec_sha256", "method", "task")}
    for d in plan.get("decisions") or []:
        if isinstance(d, dict) and "key" in d:
            out[f"ftgen.plan.{d['key']}"] = json.loads(json.dumps(d.get("value"), default=str))
            out[f"ftgen.rule.{d['key']}"] = str(d.get("rule", ""))
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


def _eval_scores(record) -> dict[str, float]:
    """eval.<base|fine-tuned|delta>.<metric> from run.json's eval record."""
    out: dict[str, float] = {}
    ev = record.eval if isinstance(record.eval, dict) else {}
    for side, scores in (ev.get("summary") or {}).items():
        for m, v in (scores or {}).items():
            if isinstance(v, (int, float)):
                out[f"eval.{side}.{m}"] = float(v)
    for m, v in (ev.get("delta") or {}).items():
        if isinstance(v, (int, float)):
            out[f"eval.delta.{m}"] = float(v)
    return out


def close_run(record) -> None:
    """After training (and evaluation): the eval-set scores into the tracker run(s), and the final status."""
    link = record.tracker if isinstance(record.tracker, dict) else {}
    ev = record.eval if isinstance(record.eval, dict) else {}
    try:
        if link.get("mlflow"):
            _mlflow_close(record, link["mlflow"], ev)
    finally:  # W&B gets its scores even when MLflow fails (the error is still raised: run.json notes it)
        if link.get("wandb"):
            summary: dict[str, Any] = {**_eval_scores(record), "ftgen.status": record.status}
            if ev.get("error"):
                summary["ftgen.eval_error"] = str(ev["error"])[:5000]
            _wandb_log(link["wandb"], summary=summary, exit_code=0 if record.status == "succeeded" else 1)


def _mlflow_close(record, ml: dict, ev: dict) -> None:
    from mlflow.entities import Metric

    client = _client(ml["tracking_uri"])
    _adopt_strays(client, ml)
    metrics = [Metric(k, v, 0, 0) for k, v in _eval_scores(record).items()]
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
