"""A run's summary: one small dataclass, printed for the terminal and as markdown."""

from __future__ import annotations

from dataclasses import dataclass

from .record import RunRecord


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _memory_line(r: RunRecord) -> str:
    from .peak_memory import describe

    try:
        return describe(r.memory)
    except (KeyError, TypeError, ValueError):  # a hand-edited record: no line rather than a crash
        return ""


def _where(sched: dict | None) -> str | None:
    if not sched:
        return None
    if sched.get("kind") == "skypilot":
        return f"SkyPilot cluster {sched.get('cluster')}, task {sched.get('job_name')}"
    text = f"Slurm job {sched.get('job_id')}"
    if sched.get("eval_job_id"):
        text += f", eval job {sched['eval_job_id']} (afterok)"
    if sched.get("requeues"):
        text += f"; requeued {sched['requeues']}x (time-limit signal or Slurm: see attempts in run.json)"
    return text


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    name: str
    framework: str
    status: str
    exit_code: int | None
    wall_seconds: float | None
    steps: int | None
    first_loss: float | None
    last_loss: float | None
    eval_loss: float | None
    perplexity: float | None
    checkpoints: int
    last_checkpoint: str | None
    curve: str | None
    eval_scores: dict
    path: str
    note: str | None = None
    memory: str = ""  # measured peak vs the plan's estimate (peak_memory.describe)
    scheduler: str | None = None  # where a submitted run runs: Slurm job ids, SkyPilot cluster and task
    follow: tuple[str, ...] = ()  # commands that follow it

    @classmethod
    def of(cls, r: RunRecord, derived=None) -> RunSummary:
        """The summary of `r`; `derived` (record.derive_status) replaces a stale 'running' with what it really is."""
        m = r.metrics if isinstance(r.metrics, dict) else {}
        stale = derived is not None and derived.stale
        return cls(
            r.run_id,
            r.name,
            r.framework,
            derived.status if derived is not None else r.status,
            r.exit_code,
            r.wall_seconds,
            m.get("global_step"),
            m.get("first_loss"),
            m.get("last_loss"),
            m.get("eval_loss"),
            m.get("perplexity"),
            len(r.checkpoints),
            r.last_checkpoint,
            r.curve,
            dict((r.eval or {}).get("summary") or {}),
            r.path,
            derived.note if stale or (derived is not None and derived.note and r.scheduler) else r.note,
            _memory_line(r),
            _where(r.scheduler),
            tuple((r.scheduler or {}).get("follow") or ()),
        )

    def rows(self) -> list[tuple[str, str]]:
        rows = [
            ("run", self.run_id),
            ("job", f"{self.name} ({self.framework})"),
            ("status", self.status + (f" (exit {self.exit_code})" if self.exit_code not in (0, None) else "")),
            ("wall time", f"{self.wall_seconds:.1f} s" if self.wall_seconds is not None else ""),
            ("steps", _fmt(self.steps)),
            (
                "training loss",
                f"{_fmt(self.first_loss)} -> {_fmt(self.last_loss)}" if self.last_loss is not None else "",
            ),
            ("eval loss", _fmt(self.eval_loss)),
            ("perplexity", _fmt(self.perplexity)),
            (
                "checkpoints",
                f"{self.checkpoints}" + (f" (last: {self.last_checkpoint})" if self.last_checkpoint else ""),
            ),
            ("loss curve", self.curve or ""),
            ("peak memory", self.memory),
        ]
        for model, scores in self.eval_scores.items():
            rows.append((f"eval set ({model})", ", ".join(f"{k} {_fmt(v)}" for k, v in scores.items())))
        rows.append(("folder", self.path))
        if self.scheduler:
            rows.append(("scheduler", self.scheduler))
        for command in self.follow:
            rows.append(("follow", command))
        if self.note:
            rows.append(("note", self.note))
        return [(k, v) for k, v in rows if v]

    def markdown(self) -> str:
        from .._markdown import md_text

        lines = [f"### Run {md_text(self.run_id)}", "", "| | |", "|---|---|"]
        lines += ["| " + k + " | " + md_text(v) + " |" for k, v in self.rows()]
        return "\n".join(lines) + "\n"
