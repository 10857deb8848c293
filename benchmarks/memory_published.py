"""ftgen's memory estimate against published MEASURED peaks of real fine-tunes (benchmarks/data/measured.yaml).

Every figure in the data file is a measurement someone published with the settings of the run (model, method,
precision, sequence length, micro batch, checkpointing, optimizer, LoRA rank/targets/dropout, GPUs, sharding),
and says what it measured. Each statistic is compared like with like:

  allocated   torch.cuda.max_memory_allocated  vs  the estimate without its "overhead" component
  reserved    torch.cuda.max_memory_reserved   vs  the estimate's total minus the CUDA context
  nvidia-smi  device memory in use             vs  the estimate's total

error = (estimate - measured) / measured: negative is an underestimate (an OOM risk).

    python benchmarks/memory_published.py              # table, then the summary
    python benchmarks/memory_published.py --json       # the same as JSON
    python benchmarks/memory_published.py --out r.json # table, and the JSON written to r.json

It also prints the ratios that back the estimator's constants: (nvidia-smi - context) / allocated by kind of
run (memory.FRAGMENTATION*) and the 10th/90th percentiles of measured/estimate - 1 (memory.ERROR_BANDS).

exit status: 0 when the targets hold (median |error| <= 10 %, at most 1 figure in 10 underestimated by more
than 15 %), 1 when not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator import memory  # noqa: E402
from generator.facts.types import ModelCard  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "measured.yaml"

#: the issue's targets on measured figures
MEDIAN_TARGET_PCT = 10.0
UNDER_PCT = 15.0  # an underestimate by more than this counts against...
UNDER_SHARE_TARGET = 0.10  # ...at most this share of the figures

STATISTICS = ("allocated", "reserved", "nvidia_smi")

#: setup keys a row (or its source's `common`) may set, mapped onto TrainSetup fields
_SETUP_KEYS = {
    "precision": "precision",
    "sequence_len": "sequence_len",
    "micro_batch": "micro_batch_size",
    "gradient_checkpointing": "gradient_checkpointing",
    "flash_attention": "flash_attention",
    "optimizer": "optimizer",
    "lora_rank": "lora_rank",
    "lora_dropout": "lora_dropout",
    "master_dtype": "master_dtype",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "cross_entropy": "cross_entropy",
    "double_quant": "double_quant",
}


@dataclass
class Comparison:
    source: str
    row: str
    model: str
    method: str
    gpus: int
    statistic: str
    measured_gib: float
    estimate_gib: float
    error_pct: float
    settings: str


def model_card(model_id: str, shapes: dict[str, dict]) -> ModelCard:
    """ftgen's catalog card where it has the model, else the data file's shapes."""
    try:
        from generator.facts.models import load_catalog

        card = load_catalog().get(model_id)
        if card is not None:
            return card
    except Exception:  # the catalog is optional here
        pass
    if model_id not in shapes:
        raise SystemExit(f"{DATA.name}: models.{model_id}: no shapes and not in ftgen's catalog")
    m = dict(shapes[model_id])
    return ModelCard(
        id=model_id,
        family=m.get("family", "llama"),
        model_type=m.get("family", "llama"),
        params_b=float(m["params_b"]),
        layers=int(m["layers"]),
        hidden=int(m["hidden"]),
        intermediate=int(m["intermediate"]),
        heads=int(m["heads"]),
        kv_heads=int(m["kv_heads"]),
        vocab=int(m["vocab"]),
        max_context=32768,
        tie_embeddings=bool(m.get("tie", False)),
        head_dim=m.get("head_dim"),
        num_experts=m.get("num_experts"),
        experts_per_token=m.get("experts_per_token"),
        moe_intermediate=m.get("moe_intermediate"),
        source="benchmark",
    )


def setup_of(row: dict, common: dict) -> memory.TrainSetup:
    merged = {**common, **row}
    kw: dict[str, Any] = {}
    for key, field_name in _SETUP_KEYS.items():
        if key in merged:
            kw[field_name] = merged[key]
    gpus = int(merged.get("gpus", 1))
    kw["world_size"] = gpus
    kw["sharding"] = merged.get("sharding", "single" if gpus == 1 else "ddp")
    method = merged["method"]
    if method != "full":
        kw["lora_targets"] = tuple(merged.get("lora_targets", memory.TrainSetup.lora_targets))
    if method == "qlora":
        kw["quant_bits"] = 4
    known = {f.name for f in fields(memory.TrainSetup)}
    kw = {k: v for k, v in kw.items() if k in known or k in ("micro_batch_size", "sequence_len")}
    micro = kw.pop("micro_batch_size")
    seq = kw.pop("sequence_len")
    return memory.TrainSetup(method, micro, seq, **kw)


def describe(s: memory.TrainSetup) -> str:
    bits = [
        s.precision,
        f"b{s.micro_batch_size}",
        f"s{s.sequence_len}",
        "AC" if s.gradient_checkpointing else "no-AC",
        "flash" if s.flash_attention else "eager",
        s.optimizer,
        f"{s.world_size}gpu/{s.sharding}",
    ]
    if s.method != "full":
        bits.append(
            f"r{s.lora_rank} {'/'.join(t.replace('_proj', '') for t in s.lora_targets)} do{getattr(s, 'lora_dropout', 0):g}"
        )
    return " ".join(bits)


def estimate_for(statistic: str, est: memory.MemoryEstimate, setup: memory.TrainSetup) -> float:
    """The part of the estimate a statistic measures (see the module doc)."""
    if statistic == "allocated":
        return est.total_gb - est.components["overhead"]
    if statistic == "reserved":
        return memory.allocator_visible_gb(est, setup)
    return est.total_gb


def _measured(row: dict, statistic: str) -> float | None:
    value = row.get(statistic)
    return None if value is None else float(value)


def compare(data: dict) -> list[Comparison]:
    shapes = data.get("models") or {}
    out: list[Comparison] = []
    for source, src in (data.get("sources") or {}).items():
        common = src.get("common") or {}
        for row in src.get("rows") or []:
            card = model_card(row["model"], shapes)
            setup = setup_of(row, common)
            est = memory.estimate(card, setup)
            for stat in STATISTICS:
                measured = _measured(row, stat)
                if measured is None:
                    continue
                guess = estimate_for(stat, est, setup)
                out.append(
                    Comparison(
                        source=source,
                        row=row["id"],
                        model=row["model"],
                        method=setup.method,
                        gpus=setup.world_size,
                        statistic=stat,
                        measured_gib=round(measured, 3),
                        estimate_gib=round(guess, 3),
                        error_pct=round((guess - measured) / measured * 100, 1),
                        settings=describe(setup),
                    )
                )
    return out


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (statistics.quantiles needs >= 2 points and excludes the ends)."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _group(rows: list[Comparison]) -> dict[str, Any]:
    errs = [r.error_pct for r in rows]
    under = [e for e in errs if e < -UNDER_PCT]
    return {
        "figures": len(errs),
        "median_abs_error_pct": round(statistics.median(abs(e) for e in errs), 1),
        "median_signed_error_pct": round(statistics.median(errs), 1),
        "underestimated_over_15pct": len(under),
    }


def fragmentation_ratios(data: dict) -> dict[str, list[float]]:
    """(nvidia-smi - CUDA context) / allocated for runs that published both, by kind of run."""
    kinds: dict[str, list[float]] = {}
    for src in (data.get("sources") or {}).values():
        common = src.get("common") or {}
        for row in src.get("rows") or []:
            a, n = _measured(row, "allocated"), _measured(row, "nvidia_smi")
            if a is None or n is None:
                continue
            s = setup_of(row, common)
            kind = (
                "sharded"
                if s.sharding in ("zero1", "zero2", "zero3", "fsdp") and s.world_size > 1
                else "quantized"
                if s.method == "qlora"
                else "16-bit"
            )
            kinds.setdefault(kind, []).append(round((n - memory.CUDA_CONTEXT_GIB) / a, 3))
    return kinds


def _band(rows: list[Comparison]) -> list[float] | None:
    ratio = [r.measured_gib / r.estimate_gib - 1 for r in rows]
    return [round(_quantile(ratio, 0.10), 3), round(_quantile(ratio, 0.90), 3)] if ratio else None


def summarize(rows: list[Comparison], data: dict) -> dict[str, Any]:
    if not rows:
        return {"figures": 0, "ok": False}
    errs = [r.error_pct for r in rows]
    under = sum(1 for e in errs if e < -UNDER_PCT)
    ratio = [r.measured_gib / r.estimate_gib - 1 for r in rows]
    summary: dict[str, Any] = {
        **_group(rows),
        "underestimated_over_15pct_share": round(under / len(errs), 3),
        "targets": {"median_abs_error_pct": MEDIAN_TARGET_PCT, "underestimated_over_15pct_share": UNDER_SHARE_TARGET},
        "by_source": {},
        "by_method": {},
        "by_statistic": {},
        # measured / estimate - 1: the band a measured peak falls in around the estimate (memory.ERROR_BANDS)
        "band_p10_p90": [round(_quantile(ratio, 0.10), 3), round(_quantile(ratio, 0.90), 3)],
        "band_p10_p90_one_gpu": _band([r for r in rows if r.gpus == 1]),
        "band_p10_p90_several_gpus": _band([r for r in rows if r.gpus > 1]),
        "estimator_bands": dict(getattr(memory, "ERROR_BANDS", {})),
        "fragmentation_ratios": fragmentation_ratios(data),
    }
    for key, attr in (("by_source", "source"), ("by_method", "method"), ("by_statistic", "statistic")):
        for value in sorted({getattr(r, attr) for r in rows}):
            summary[key][value] = _group([r for r in rows if getattr(r, attr) == value])
    summary["ok"] = (
        summary["median_abs_error_pct"] <= MEDIAN_TARGET_PCT
        and summary["underestimated_over_15pct_share"] <= UNDER_SHARE_TARGET
    )
    return summary


def render(rows: list[Comparison], summary: dict[str, Any]) -> str:
    lines = [
        f"ftgen memory estimate vs published MEASURED peaks ({DATA.relative_to(ROOT)}); GiB per GPU",
        "",
        f"{'source':<17} {'row':<24} {'stat':<10} {'measured':>9} {'estimate':>9} {'error':>8}  settings",
    ]
    for r in rows:
        flag = "  UNDER" if r.error_pct < -UNDER_PCT else ""
        lines.append(
            f"{r.source[:17]:<17} {r.row[:24]:<24} {r.statistic:<10} {r.measured_gib:>9.2f} {r.estimate_gib:>9.2f} "
            f"{r.error_pct:>+7.1f}%  {r.model.split('/')[-1]} {r.method} {r.settings}{flag}"
        )
    lines.append("")

    def group_line(name: str, g: dict) -> str:
        return (
            f"  {name:<22} n={g['figures']:<3} median |error| {g['median_abs_error_pct']:>5.1f}%  "
            f"signed {g['median_signed_error_pct']:>+6.1f}%  under >15%: {g['underestimated_over_15pct']}"
        )

    lines.append(group_line("all figures", summary))
    for key in ("by_statistic", "by_method", "by_source"):
        lines.append(f" {key.replace('_', ' ')}:")
        for name, g in summary[key].items():
            lines.append(group_line(name, g))
    lines.append("")
    for label, key, kind in (
        ("all figures", "band_p10_p90", None),
        ("band, one GPU", "band_p10_p90_one_gpu", "one_gpu"),
        ("band, several GPUs", "band_p10_p90_several_gpus", "several_gpus"),
    ):
        if not summary.get(key):
            continue
        lo, hi = summary[key]
        used = summary["estimator_bands"].get(kind) if kind else None
        lines.append(
            f"measured / estimate - 1, 10th..90th percentile, {label}: {lo:+.1%} .. {hi:+.1%}"
            + (f" (memory.ERROR_BANDS[{kind!r}] = {used[0]:+.0%} .. {used[1]:+.0%})" if used else "")
        )
    for kind, ratios in summary["fragmentation_ratios"].items():
        lines.append(
            f"(nvidia-smi - context) / allocated, {kind}: median {statistics.median(ratios):.3f} "
            f"(range {min(ratios):.3f}-{max(ratios):.3f}, n={len(ratios)})"
        )
    lines.append(
        f"targets: median |error| <= {MEDIAN_TARGET_PCT:g}% and <= {UNDER_SHARE_TARGET:.0%} of figures under by "
        f">{UNDER_PCT:g}%: {'PASS' if summary['ok'] else 'FAIL'} "
        f"({summary['median_abs_error_pct']}%, {summary['underestimated_over_15pct_share']:.0%})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DATA, help="measured figures (default benchmarks/data/measured.yaml)")
    ap.add_argument("--json", action="store_true", help="print the comparisons and the summary as JSON")
    ap.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = ap.parse_args(argv)
    try:
        data = yaml.safe_load(args.data.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"{args.data}: cannot read: {exc}", file=sys.stderr)
        return 2
    rows = compare(data)
    summary = summarize(rows, data)
    payload = {"summary": summary, "comparisons": [asdict(r) for r in rows]}
    if args.out:
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(render(rows, summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
