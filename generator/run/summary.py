"""A run's summary: one small dataclass, printed for the terminal and as markdown."""

from __future__ import annotations

from dataclasses import dataclass

from .record import RunRecord


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


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

    @classmethod
    def of(cls, r: RunRecord) -> RunSummary:
        m = r.metrics or {}
        return cls(
            r.run_id,
            r.name,
            r.framework,
            r.status,
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
        ]
        for model, scores in self.eval_scores.items():
            rows.append((f"eval set ({model})", ", ".join(f"{k} {_fmt(v)}" for k, v in scores.items())))
        rows.append(("folder", self.path))
        return [(k, v) for k, v in rows if v]

    def markdown(self) -> str:
        lines = [f"### Run {self.run_id}", "", "| | |", "|---|---|"]
        lines += ["| " + k + " | " + str(v).replace("|", "\\|") + " |" for k, v in self.rows()]
        return "\n".join(lines) + "\n"
