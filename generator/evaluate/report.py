"""`ftgen report` (markdown + HTML for one run) and `ftgen compare` (runs side by side, bar chart PNG)."""

from __future__ import annotations

import base64
import os
from functools import cache
from pathlib import Path

import jinja2

from .. import _io
from .._templates import environment
from ..errors import FtgenError
from ..run.record import RunRecord
from ..run.summary import RunSummary
from ..write import atomic_write
from . import prompts
from .scoring import METRICS

MAX_REGRESSIONS = 10
LABELS = {"exact_match": "exact match", "contains": "contains", "token_f1": "token F1", "rouge_l": "ROUGE-L"}


def fmt_score(v) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) else "-"


def fmt_delta(v) -> str:
    return f"{v:+.4f}" if isinstance(v, (int, float)) else "-"


def _md(value) -> str:
    """Text for a markdown table cell: one line, pipes escaped, no raw HTML (model output is untrusted)."""
    text = str(value).replace("<", "&lt;").replace("|", "\\|")
    return " ".join(text.split())


@cache
def _env(html: bool) -> jinja2.Environment:
    return environment({"md": _md}, autoescape=html)


def _read_jsonl(path) -> list[dict]:
    if not path:
        return []
    try:
        return _io.read_jsonl(path)
    except FtgenError:
        return []


def _prompt_text(row: dict) -> str:
    if "prompt" in row:
        return str(row["prompt"])
    users = [m.get("content", "") for m in row.get("messages") or [] if m.get("role") == "user"]
    return users[-1] if users else ""


def regressions(record: RunRecord, limit: int = MAX_REGRESSIONS) -> list[dict]:
    """Rows the base model got right (exact match) and the fine-tune got wrong; the furthest off first."""
    paths = (record.eval or {}).get("predictions") or {}
    base, tuned = _read_jsonl(paths.get("base")), _read_jsonl(paths.get("fine-tuned"))
    worse = [(b, f) for b, f in zip(base, tuned) if b.get("exact_match") == 1 and f.get("exact_match") == 0]
    worse.sort(key=lambda pair: (pair[1].get("token_f1", 0), pair[1].get("rouge_l", 0)))
    return [
        {
            "id": b.get("id"),
            "prompt": _prompt_text(b),
            "answer": " / ".join(b.get("answers") or []),
            "base": b.get("prediction", ""),
            "finetuned": f.get("prediction", ""),
            "token_f1": fmt_score(f.get("token_f1")),
        }
        for b, f in worse[:limit]
    ]


def metric_rows(ev: dict) -> list[dict]:
    summary = ev.get("summary") or {}
    base, tuned, delta = summary.get("base") or {}, summary.get("fine-tuned") or {}, ev.get("delta") or {}
    return [
        {
            "name": LABELS[m],
            "key": m,
            "base": fmt_score(base.get(m)),
            "finetuned": fmt_score(tuned.get(m)),
            "delta": fmt_delta(delta.get(m)),
        }
        for m in METRICS
    ]


def _context(record: RunRecord, out_dir: Path) -> dict:
    ev = record.eval or {}
    curve = Path(record.curve) if record.curve and Path(record.curve).is_file() else None
    eval_set = ev.get("eval_set") or {}
    return {
        "run": record,
        "summary_rows": [(k, v) for k, v in RunSummary.of(record).rows() if not k.startswith("eval set")],
        "evaluated": bool(ev.get("summary")),
        "eval_error": ev.get("error") or "",
        "metrics": metric_rows(ev),
        "eval_set": {
            "path": eval_set.get("path", ""),
            "rows": eval_set.get("rows", 0),
            "sha256": (eval_set.get("sha256") or "")[:12],
            "max_new_tokens": eval_set.get("max_new_tokens", 0),
        },
        "prompt_format": prompts.describe(ev.get("prompt_format") or {}),
        "cached_base": bool(ev.get("cached_base")),
        "models": ev.get("models") or {"base": "", "fine-tuned": "", "kind": ""},
        "regressions": regressions(record),
        "regression_count": ev.get("regressions", 0),
        "predictions": {k: os.path.relpath(v, out_dir) for k, v in (ev.get("predictions") or {}).items()},
        "harness": ev.get("harness") or {},
        "curve_link": os.path.relpath(curve, out_dir) if curve else "",
        "curve_b64": base64.b64encode(curve.read_bytes()).decode("ascii") if curve else "",
    }


def write_report(record: RunRecord, out_dir: Path | None = None) -> tuple[Path, Path]:
    """report.md and report.html for one run (default: in the run's folder); returns their paths."""
    out_dir = Path(out_dir) if out_dir else record.dir
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = _context(record, out_dir.resolve())
    md, html = out_dir / "report.md", out_dir / "report.html"
    atomic_write(md, _env(False).get_template("report/report.md.j2").render(**ctx))
    atomic_write(html, _env(True).get_template("report/report.html.j2").render(**ctx))
    return md, html


# ------------------------------------------------------------------ compare


def _method(record: RunRecord) -> str:
    try:
        plan = _io.read_json(record.dir.parent.parent / "plan.json")
    except FtgenError:
        return ""
    return str(plan.get("method", "")) if isinstance(plan, dict) else ""


def bar_chart(records: list[RunRecord], path: Path) -> Path:
    """Grouped bars per metric: each distinct base model once, then each run's fine-tuned model; values on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: list[tuple[str, dict]] = []
    seen_bases = set()
    for r in records:
        ev = r.eval or {}
        key = ((ev.get("models") or {}).get("base"), (ev.get("eval_set") or {}).get("sha256"))
        if key not in seen_bases and (ev.get("summary") or {}).get("base"):
            seen_bases.add(key)
            series.append((f"base ({Path(str(key[0])).name})", ev["summary"]["base"]))
        series.append((f"{r.run_id} ({r.framework})", (ev.get("summary") or {}).get("fine-tuned") or {}))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(METRICS) * max(1, len(series)) / 2), 4.5), dpi=100)
    for i, (label, scores) in enumerate(series):
        xs = [k + i * width - 0.4 + width / 2 for k in range(len(METRICS))]
        ys = [float(scores.get(m) or 0.0) for m in METRICS]
        bars = ax.bar(xs, ys, width, label=label, hatch="//" if label.startswith("base") else None)
        for bar, y in zip(bars, ys):
            ax.annotate(f"{y:.2f}", (bar.get_x() + bar.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(METRICS)), [LABELS[m] for m in METRICS])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score (eval set)")
    ax.set_title("eval set: base vs fine-tuned")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(3, len(series)), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    text = "; ".join(f"{label}: " + ", ".join(f"{m} {fmt_score(s.get(m))}" for m in METRICS) for label, s in series)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, metadata={"Title": "ftgen compare", "Description": text})
    plt.close(fig)
    tmp.replace(path)
    return path


def compare_markdown(records: list[RunRecord], chart_name: str) -> str:
    head = ["run", "job", "framework", "method", "status", "steps", "eval loss"]
    head += [f"{LABELS[m]} base" for m in METRICS[:1]] + [f"{LABELS[m]} fine-tuned (delta)" for m in METRICS]
    lines = [
        "# Runs compared",
        "",
        f"![eval set scores]({chart_name})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in records:
        ev = r.eval or {}
        base, tuned = (ev.get("summary") or {}).get("base") or {}, (ev.get("summary") or {}).get("fine-tuned") or {}
        delta = ev.get("delta") or {}
        el = r.metrics.get("eval_loss")
        cells = [
            r.run_id,
            r.name,
            r.framework,
            _method(r),
            r.status,
            str(r.metrics.get("global_step", "")),
            f"{el:.4f}" if isinstance(el, (int, float)) else "-",
            fmt_score(base.get(METRICS[0])),
        ]
        cells += [f"{fmt_score(tuned.get(m))} ({fmt_delta(delta.get(m))})" for m in METRICS]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def compare(records: list[RunRecord], out_dir: Path) -> tuple[Path, Path]:
    """compare.md and compare.png in out_dir; returns their paths."""
    out_dir = Path(out_dir)
    png = bar_chart(records, out_dir / "compare.png")
    md = out_dir / "compare.md"
    atomic_write(md, compare_markdown(records, png.name))
    return md, png
