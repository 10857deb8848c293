"""The rules engine: run every registered rule in order over the spec and facts, giving a Plan."""

from __future__ import annotations

from ..errors import FtgenError
from ..facts.types import Facts
from ..plan import MemoryRecord, Plan, TimeCostRecord, coerce
from ..spec import Spec
from . import checks, defaults, hardware, hyper, stages, tracking, tree  # noqa: F401  (importing registers the rules)
from ._context import Context
from ._registry import Rule, all_rules, get

__all__ = ["decide", "all_rules", "get", "Rule"]

_MAX_PASSES = 3


def _facts_summary(spec: Spec, facts: Facts) -> dict:
    m, g, d = facts.model, facts.gpu, facts.data
    hw = spec.hardware
    return {
        "model": {
            "id": m.id,
            "params_b": m.params_b,
            "layers": m.layers,
            "hidden": m.hidden,
            "vocab": m.vocab,
            "max_context": m.max_context,
            "source": m.source,
            **_model_provenance(m),
        },
        "gpu": {
            "name": g.name,
            "vram_gb": g.vram_gb,
            "bf16": g.bf16,
            "fp8": g.fp8,
            "usd_per_hour": g.usd_per_hour,
            "is_cpu": g.is_cpu,
            "count": hw.world_size,
            "nodes": hw.nodes,
        },
        "data": {
            "examples": d.examples,
            "avg_tokens": round(d.avg_tokens, 1),
            "p95_tokens": d.p95_tokens,
            "measured": d.measured,
            "formats": list(d.formats),
            "unique_examples": d.unique_examples,
        },
        "eval": {
            "path": facts.eval.path,
            "rows": facts.eval.rows,
            "sha256": facts.eval.sha256,
            "in_train": facts.eval.in_train,
        }
        if facts.eval
        else None,
    }


def _model_provenance(m) -> dict:
    """Where the model's facts came from, beyond `source`: the lock, its commit, what filled it; caveats."""
    out: dict = {}
    if m.source == "lock":
        out.update(lock=m.lock_file, revision=m.revision, locked_from=m.locked_from)
    if m.vision_params_b:
        out["vision_params_b"] = round(m.vision_params_b, 3)
    if m.notes:
        out["notes"] = list(m.notes)
    return out


def decide(spec: Spec, facts: Facts) -> Plan:
    """Evaluate the rules; raise FtgenError (exit 2) listing every error finding."""
    pinned: dict = {}
    for _ in range(_MAX_PASSES):
        ctx = Context(spec, facts, pinned=dict(pinned))
        for r in all_rules():
            ctx.rule_id = r.id
            r.fn(ctx)
            if ctx.rerun or (ctx.errors and r.order >= 50):  # later rules build on what failed
                break
        if not ctx.rerun:
            break
        pinned = ctx.pinned
    if ctx.errors:
        raise FtgenError(ctx.errors)
    mem = ctx.extras.get("memory")
    tc = ctx.extras.get("time_cost")
    return Plan(
        name=spec.name,
        task=coerce("task", spec.task),
        method=ctx["method"],
        frameworks=tuple(ctx["frameworks"]),
        decisions=tuple(ctx.decisions.values()),
        memory=MemoryRecord.from_dict(mem.to_dict()) if mem else None,
        time_cost=TimeCostRecord.from_dict(tc.to_dict()) if tc else None,
        findings=tuple(f for f in ctx.findings if f.severity != "error"),
        facts=_facts_summary(spec, facts),
    )
