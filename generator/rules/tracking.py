"""Experiment-tracking rules: which trackers the trainer reports to, under which names, into which MLflow store."""

from __future__ import annotations

from ..tracking import DEFAULT_MLFLOW_URI
from ._context import Context
from ._registry import rule


@rule("FT200", "experiment-trackers", order=231)
def experiment_trackers(ctx: Context) -> None:
    """Report to the trackers the spec's `tracking.backend` names, instead of to none.

    What: `report_to` becomes the backend (a list for several): LLaMA-Factory `report_to: mlflow` /
    `[mlflow, wandb]`; Axolotl `use_mlflow` / `use_wandb` / `use_tensorboard: true`. `ftgen run`, launch.sh and
    slurm.sbatch then leave the tracker on in the trainer's environment (W&B stays disabled unless it is a
    backend), set MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME or WANDB_PROJECT / WANDB_NAME / WANDB_TAGS, and
    `ftgen run` opens ONE tracker run per run before training (MLFLOW_RUN_ID; WANDB_RUN_ID with WANDB_RESUME)
    where it logs the plan's decisions, the spec hash, the memory estimate and, after evaluation, the eval-set
    scores; run.json links that run. Tokens (WANDB_API_KEY, MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME /
    PASSWORD) come only from the caller's environment and are never written. No `tracking` block (or
    `backend: none`): FT106's `report_to: none` stands and every tracker stays off.
    Why: teams compare runs in their tracker; the trainer's loss curve, ftgen's decisions and the eval scores
    belong in the same run, and a tracker that phones home must be asked for, not on by default.
    Example: tracking: {backend: mlflow} -> report_to mlflow (Axolotl use_mlflow: true).
    References: HF TrainingArguments report_to and the MLflowCallback / WandbCallback integrations
    (MLFLOW_RUN_ID, MLFLOW_EXPERIMENT_NAME, WANDB_PROJECT); Axolotl docs/config (use_mlflow, use_wandb,
    use_tensorboard); LLaMA-Factory README (report_to).
    """
    tracking = ctx.spec.tracking
    if tracking is None:
        return
    value = tracking.backends[0] if len(tracking.backends) == 1 else list(tracking.backends)
    ctx.record_spec("report_to", value, "tracking.backend in the spec")


@rule("FT201", "tracking-names", order=232)
def tracking_names(ctx: Context) -> None:
    """Name what the trackers log under: the project / experiment, the run, its tags.

    What: MLflow experiment (`mlflow_experiment_name`, Axolotl; MLFLOW_EXPERIMENT_NAME for LLaMA-Factory) and W&B
    project (`wandb_project`, Axolotl; WANDB_PROJECT for LLaMA-Factory) = `tracking.project`, else the spec's
    name; the run name = the spec's name (LLaMA-Factory `run_name`, Axolotl `wandb_name`), which `ftgen run`
    replaces by the run id; `tracking.tags` go onto the tracker run (`ftgen run`; WANDB_TAGS as key:value).
    Why: runs of one spec land together, and a run is found by the id `ftgen runs` shows.
    Example: spec name support-bot, tracking: {backend: mlflow} -> mlflow_experiment_name support-bot.
    References: HF TrainingArguments run_name; MLflow set_experiment; W&B environment variables (WANDB_PROJECT,
    WANDB_NAME, WANDB_TAGS); Axolotl docs/config (mlflow_experiment_name, wandb_project, wandb_name).
    """
    tracking = ctx.spec.tracking
    if tracking is None:
        return
    spec_name = ctx.spec.name

    def project(key: str) -> None:
        if tracking.project:
            ctx.record_spec(key, tracking.project, "tracking.project in the spec")
        else:
            ctx.decide(key, spec_name, "the spec's name (no tracking.project)")

    if "mlflow" in tracking.backends:
        project("mlflow_experiment_name")
    if "wandb" in tracking.backends:
        project("wandb_project")
        ctx.decide("wandb_run_name", spec_name, "the spec's name; `ftgen run` names each run by its run id")
    ctx.decide("run_name", spec_name, "the spec's name; `ftgen run` names each run by its run id")
    if tracking.tags:
        ctx.record_spec("tracking_tags", dict(tracking.tags), "tracking.tags in the spec")


@rule("FT202", "mlflow-store", order=233)
def mlflow_store(ctx: Context) -> None:
    """Choose the MLflow tracking store: `tracking.uri`, else a SQLite file beside the spec.

    What: `mlflow_tracking_uri` = `tracking.uri` (relative paths are relative to the spec's folder), else
    `sqlite:///mlflow.db` in the spec's folder. Axolotl writes it as `mlflow_tracking_uri`, rebased to the
    config's folder; LLaMA-Factory reads MLFLOW_TRACKING_URI, which launch.sh (from the build folder) and
    `ftgen run` (made absolute) set. The outputs/.gitignore that `ftgen build` keeps ignores mlflow.db, mlruns/
    and wandb/.
    Why: one embedded file store needs no server, works offline, is what current MLflow defaults to, and
    every build of the spec logs into the same experiments.
    Example: tracking: {backend: mlflow} in examples/support-bot.yaml -> examples/mlflow.db; Axolotl
    mlflow_tracking_uri: sqlite:///../../examples/mlflow.db from outputs/support-bot/.
    References: MLflow docs, backend stores (sqlite:///, file:, http(s) servers); Axolotl docs/config
    (mlflow_tracking_uri).
    """
    tracking = ctx.spec.tracking
    if tracking is None or "mlflow" not in tracking.backends:
        return
    if tracking.uri:
        ctx.record_spec("mlflow_tracking_uri", tracking.uri, "tracking.uri in the spec (relative to its folder)")
    else:
        ctx.decide("mlflow_tracking_uri", DEFAULT_MLFLOW_URI, "a SQLite store beside the spec (no tracking.uri)")
