"""`ftgen compare outputs/<name>` on a sweep: the trials ranked by the sweep's metric, the best marked, its distance
from the base model; a chart (sweep.png) and a table (sweep.md) in the build folder; the sweep in the tracker."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..write import atomic_write

CHART = "sweep.png"
TABLE = "sweep.md"


@dataclass
class TrialScore:
    """One trial as the comparison ranks it: its latest succeeded run's score (None: no score yet, and why)."""

    id: str
    parameters: dict[str, Any]
    run_id: str | None = None
    status: str = "not run"
    score: float | None = None
    base: float | None = None  # the base model's score on the same eval set (eval.* metrics)
    rank: int | None = None
    best: bool = False
    note: str = ""

    @property
    def vs_base(self) -> float | None:
        return None if self.score is None or self.base is None else round(self.score - self.base, 4)


@dataclass
class Ranking:
    name: str
    metric: str
    goal: str  # max | min
    trials: list[TrialScore] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)

    @property
    def best(self) -> TrialScore | None:
        return next((t for t in self.trials if t.best), None)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "metric": self.metric,
            "goal": self.goal,
            "best": self.best.id if self.best else None,
            "trials": [dict(vars(t), vs_base=t.vs_base) for t in self.trials],
            "dropped": self.dropped,
        }


def _score(record, metric: str) -> tuple[float | None, float | None, str]:
    """(trial score, base model score, why there is none) of a run record for the metric."""
    if metric == "eval_loss":
        v = (record.metrics or {}).get("eval_loss")
        ok = isinstance(v, (int, float)) and math.isfinite(v)
        return (float(v) if ok else None), None, "" if ok else "the run logged no eval_loss (val_set_size 0?)"
    name = metric.split(".", 1)[1]
    ev = record.eval if isinstance(record.eval, dict) else {}
    if ev.get("error"):
        return None, None, f"eval failed: {str(ev['error'])[:200]}"
    summary = ev.get("summary") or {}
    tuned = (summary.get("fine-tuned") or {}).get(name)
    base = (summary.get("base") or {}).get(name)
    if not isinstance(tuned, (int, float)):
        return None, None, f"not evaluated: `ftgen eval {record.run_id}`"
    return float(tuned), (float(base) if isinstance(base, (int, float)) else None), ""


def rank(build_dir: Path, data: dict) -> Ranking:
    """Rank a sweep's trials (sweep.json's `data`) by the metric: best first, unscored trials last."""
    from ..run.sweep import finished, runs_of

    metric, goal = str(data["metric"]), str(data.get("goal", "max"))
    ranking = Ranking(
        str(data.get("name", Path(build_dir).name)), metric, goal, dropped=list(data.get("dropped") or [])
    )
    for t in data["trials"]:
        folder = Path(build_dir) / str(t["dir"])
        row = TrialScore(str(t["id"]), dict(t.get("parameters") or {}))
        record = finished(folder)
        if record is None:
            runs = runs_of(folder)
            row.status = runs[-1].status if runs else "not run"
            row.run_id = runs[-1].run_id if runs else None
            row.note = "no succeeded run" if runs else ""
        else:
            row.run_id, row.status = record.run_id, record.status
            row.score, row.base, row.note = _score(record, metric)
        ranking.trials.append(row)
    scored = [t for t in ranking.trials if t.score is not None]
    scored.sort(key=lambda t: -t.score if goal == "max" else t.score)  # type: ignore[operator]
    for i, t in enumerate(scored, 1):
        t.rank = i
    if scored:
        scored[0].best = True
    ranking.trials = scored + [t for t in ranking.trials if t.score is None]
    return ranking


def _fmt(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.4f}" if signed else f"{v:.4f}"


def _params(p: dict) -> str:
    return ", ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in p.items())


def rows(r: Ranking) -> list[list[str]]:
    """The table's cells: trial (best marked), rank, score, vs base, base, parameters, run, status / note."""
    out = []
    for t in r.trials:
        out.append(
            [
                t.id + (" (best)" if t.best else ""),
                str(t.rank) if t.rank else "-",
                _fmt(t.score),
                _fmt(t.vs_base, signed=True),
                _fmt(t.base),
                _params(t.parameters),
                t.run_id or "-",
                t.status + (f": {t.note}" if t.note else ""),
            ]
        )
    return out


HEADERS = ["trial", "rank", "score", "vs base", "base model", "parameters", "run", "status"]
SCORE_COLUMN = 2


def markdown(r: Ranking) -> str:
    head = list(HEADERS)
    head[SCORE_COLUMN] = f"{r.metric} ({r.goal})"
    lines = [f"# Sweep {r.name}: trials ranked by {r.metric}", "", f"![{r.metric} per trial]({CHART})", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cells in rows(r):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    for d in r.dropped:
        lines.append(f"\nDropped at build: {d.get('id')}: {str(d.get('reason', '')).replace('|', '/')}")
    return "\n".join(lines) + "\n"


def chart(r: Ranking, path: Path) -> Path:
    """Horizontal bars, one per scored trial in rank order, the best highlighted, the base model as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [t for t in r.trials if t.score is not None]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * max(1, len(scored))), dpi=100)
    labels = [t.id for t in scored][::-1]
    values = [t.score for t in scored][::-1]
    colours = ["tab:green" if t.best else "tab:blue" for t in scored][::-1]
    bars = ax.barh(labels, values, color=colours)
    for bar, v in zip(bars, values):
        ax.annotate(f"{v:.4f}", (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", fontsize=7)
    base = next((t.base for t in scored if t.base is not None), None)
    if base is not None:
        ax.axvline(base, color="grey", linestyle="--", label=f"base model {base:.4f}")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel(f"{r.metric} ({'higher' if r.goal == 'max' else 'lower'} is better)")
    ax.set_title(f"sweep {r.name}: best {r.best.id if r.best else '-'}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def write(build_dir: Path, r: Ranking) -> tuple[Path, Path]:
    """sweep.md and sweep.png in the build folder."""
    png = chart(r, Path(build_dir) / CHART)
    md = Path(build_dir) / TABLE
    atomic_write(md, markdown(r))
    return md, png


def log_to_tracker(build_dir: Path, r: Ranking, data: dict) -> str | None:
    """One MLflow run for the sweep (the build's store and experiment): its parameters, each trial's score, the
    best trial, the table and chart; returns the MLflow run id (None: the build tracks nothing in MLflow)."""
    from ..run import read_json
    from ..tracking import Tracking

    plan = read_json(Path(build_dir) / "plan.json", "plan.json")
    tracked = Tracking.from_dict(plan.get("tracking") if isinstance(plan, dict) else None)
    if tracked is None or not tracked.mlflow:
        return None
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = tracked.env(Path(build_dir).resolve())["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri)
    name = tracked.mlflow_experiment or r.name
    exp = client.get_experiment_by_name(name)
    if exp is None:
        from ..tracking import local_store

        store = local_store(tracked.mlflow_uri or "", Path(build_dir).resolve()) if tracked.mlflow_uri else None
        artifacts = (store.parent / "mlartifacts").as_uri() if store is not None else None  # beside a local store
        exp_id = client.create_experiment(name, artifact_location=artifacts)
    else:
        exp_id = exp.experiment_id
    best = r.best
    tags = {
        **tracked.tags,
        "ftgen.sweep": r.name,
        "ftgen.metric": r.metric,
        "ftgen.best_trial": best.id if best else "",
    }
    run = client.create_run(exp_id, tags=tags, run_name=f"{r.name}-sweep")
    rid = run.info.run_id
    params = [
        Param("sweep.method", str(data.get("method"))),
        Param("sweep.metric", r.metric),
        Param("sweep.parameters", json.dumps(data.get("parameters"))[:6000]),
        Param("sweep.trials", str(len(r.trials))),
        Param("sweep.dropped", str(len(r.dropped))),
    ]
    metrics = []
    for t in r.trials:
        if t.score is not None:
            metrics.append(Metric(f"{r.metric}.{t.id}", t.score, 0, 0))
    if best is not None:
        metrics.append(Metric(f"best.{r.metric}", best.score or 0.0, 0, 0))
        if best.vs_base is not None:
            metrics.append(Metric(f"best.{r.metric}.vs_base", best.vs_base, 0, 0))
    client.log_batch(rid, metrics=metrics, params=params, tags=[RunTag("ftgen.name", r.name)])
    client.log_text(rid, json.dumps(r.to_dict(), indent=1, default=str), "ftgen/sweep-ranking.json")
    client.set_terminated(rid, "FINISHED")
    return rid
