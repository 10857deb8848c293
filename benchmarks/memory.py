"""Benchmark ftgen's memory estimator against published fine-tuning GPU-memory figures (shared/anchors/vram.yaml)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator.facts.types import ModelCard  # noqa: E402
from generator.memory import (  # noqa: E402
    CUDA_CONTEXT_GIB,
    GIB,
    TrainSetup,
    allocator_visible_gb,
    estimate,
)

DEFAULT_ANCHORS = Path(__file__).resolve().parent / "data" / "vram.yaml"

#: targets from the issue
MEASURED_MEDIAN_TARGET = 15.0  # % median absolute error against measured rows

#: How to read "GB" in the estimated tables. GPU memory is sized and reported in binary units (an
#: "80 GB" H100 has 80 GiB; nvidia-smi counts MiB), and these tables size GPUs, so by default their
#: "GB" are read as GiB. --gb-decimal reads them as 1e9 bytes instead (all figures ~7 % smaller).
GB_TO_GIB = 1.0

# ----------------------------------------------------------------------------- models

#: which model stands for a size label in the tables (catalog ids)
REPRESENTATIVE = {
    "1-3B": "meta-llama/Llama-3.2-3B",
    "3B": "meta-llama/Llama-3.2-3B",
    "7B": "mistralai/Mistral-7B-v0.3",
    "7-8B": "meta-llama/Llama-3.1-8B",
    "8B": "meta-llama/Llama-3.1-8B",
    "9B": "google/gemma-2-9b",
    "13-14B": "Qwen/Qwen2.5-14B",
    "14B": "Qwen/Qwen2.5-14B",
    "27B": "google/gemma-2-27b",
    "30B": "Qwen/Qwen2.5-32B",
    "30-34B": "Qwen/Qwen2.5-32B",
    "32B": "Qwen/Qwen2.5-32B",
    "70B": "meta-llama/Llama-3.1-70B",
    "70-72B": "meta-llama/Llama-3.1-70B",
    "405B": "meta-llama/Llama-3.1-405B",
    "Llama-3.1-8B": "meta-llama/Llama-3.1-8B",
    "Llama-3.2-3B": "meta-llama/Llama-3.2-3B",
}


def _card(
    id: str,
    params_b: float,
    layers: int,
    hidden: int,
    inter: int,
    heads: int,
    kv: int,
    vocab: int,
    tie: bool = False,
    head_dim: int | None = None,
    family: str = "llama",
) -> ModelCard:
    return ModelCard(
        id=id,
        family=family,
        model_type=family,
        params_b=params_b,
        layers=layers,
        hidden=hidden,
        intermediate=inter,
        heads=heads,
        kv_heads=kv,
        vocab=vocab,
        max_context=8192,
        tie_embeddings=tie,
        head_dim=head_dim,
        source="benchmark-fallback",
    )


#: used only when the catalog lacks a model; shapes from each model's config.json on the hub
FALLBACK = {
    c.id: c
    for c in (
        _card("meta-llama/Llama-3.2-3B", 3.213, 28, 3072, 8192, 24, 8, 128256, tie=True, head_dim=128),
        _card("meta-llama/Llama-3.1-8B", 8.03, 32, 4096, 14336, 32, 8, 128256),
        _card("mistralai/Mistral-7B-v0.3", 7.248, 32, 4096, 14336, 32, 8, 32768, family="mistral"),
        _card("google/gemma-2-9b", 9.242, 42, 3584, 14336, 16, 8, 256000, tie=True, head_dim=256, family="gemma2"),
        _card("Qwen/Qwen2.5-14B", 14.77, 48, 5120, 13824, 40, 8, 152064, family="qwen2"),
        _card("google/gemma-2-27b", 27.23, 46, 4608, 36864, 32, 16, 256000, tie=True, head_dim=128, family="gemma2"),
        _card("Qwen/Qwen2.5-32B", 32.76, 64, 5120, 27648, 40, 8, 152064, family="qwen2"),
        _card("meta-llama/Llama-3.1-70B", 70.55, 80, 8192, 28672, 64, 8, 128256),
        _card("codellama/CodeLlama-34b-hf", 33.74, 48, 8192, 22016, 64, 8, 32000),
        _card("meta-llama/Llama-3.1-405B", 405.85, 126, 16384, 53248, 128, 8, 128256),
    )
}


def load_models() -> tuple[dict[str, ModelCard], str]:
    """Model cards by id: the ftgen catalog where available, FALLBACK shapes otherwise."""
    try:
        from generator.facts.models import load_catalog

        catalog = load_catalog()
        origin = "catalog (generator/catalog/models.yaml)"
    except Exception as exc:  # the catalog is optional for this benchmark
        catalog = {}
        origin = f"fallback shapes (catalog unavailable: {type(exc).__name__})"
    return {**FALLBACK, **catalog}, origin


#: A row labelled with a size range ("70-72B") covers the models at both ends of it: the estimate
#: range spans both (catalog ids; CodeLlama-34B from FALLBACK).
RANGE_ENDS = {
    "1-3B": ("meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-3B"),
    "7-8B": ("mistralai/Mistral-7B-v0.3", "meta-llama/Llama-3.1-8B"),
    "13-14B": ("allenai/OLMo-2-1124-13B", "Qwen/Qwen2.5-14B"),
    "30-34B": ("Qwen/Qwen2.5-32B", "codellama/CodeLlama-34b-hf"),
    "70-72B": ("meta-llama/Llama-3.1-70B", "Qwen/Qwen2.5-72B"),
}


def model_for(label: str, models: dict[str, ModelCard]) -> ModelCard | None:
    mid = REPRESENTATIVE.get(label)
    return models.get(mid) if mid else None


def models_for(label: str, models: dict[str, ModelCard]) -> list[ModelCard]:
    """Every model a label stands for: both ends of a size range, else the representative."""
    ids = RANGE_ENDS.get(label) or ((REPRESENTATIVE[label],) if label in REPRESENTATIVE else ())
    return [models[i] for i in ids if i in models]


# ----------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One published figure next to ftgen's estimate."""

    source: str
    kind: str  # measured | estimated | estimated minimum | rule of thumb
    label: str  # size or model as the source names it
    model: str  # the card used
    method: str
    settings: str  # the settings applied (and whether the source stated them)
    published: str  # as printed by the source
    published_gib: float | list | None
    estimate_gib: float | list | None
    error_pct: float | None = None  # signed % error of a point comparison
    verdict: str = ""  # inside / above / below for ranges, or a note
    settings_known: bool = True
    components: dict[str, float] = field(default_factory=dict)
    #: cells the source states as a number of 80 GB GPUs: that count, ftgen's (FSDP), and the verdict
    gpus_stated: list[int] | None = None
    gpus_estimate: list[int] | None = None
    gpus_verdict: str = ""


def _pct(est: float, pub: float) -> float:
    return (est - pub) / pub * 100.0


def _range_verdict(lo: float, hi: float, plo: float, phi: float | None) -> str:
    """inside when the estimate range [lo, hi] overlaps the stated range [plo, phi]."""
    if phi is not None and lo > phi:
        return "above"
    if hi < plo:
        return "below"
    return "inside"


# --- torchtune (measured) --------------------------------------------------------------------

#: torchtune recipe settings behind each README row (recipes/configs/llama3_1/*_single_device.yaml,
#: llama3_2/3B_*_single_device.yaml): pure bf16 (torchtune has no mixed precision, so adapters and
#: AdamW states are bf16), activation checkpointing on, chunked output cross-entropy (8 chunks),
#: compile on. Full: PagedAdamW8bit + optimizer_in_bwd.
_TT = dict(
    precision="bf16",
    gradient_checkpointing=True,
    flash_attention=True,
    cross_entropy="chunked",
    master_dtype="bf16",
    optimizer="adamw_torch_fused",
    lora_dropout=0.0,  # torchtune's LoRA recipes: lora_dropout 0.0
    fused_norm=True,  # compile=True: Inductor fuses RMSNorm (no fp32 copy saved)
)
#: torchtune names: lora_attn_modules q/v/output_proj + apply_lora_to_mlp (w1, w2, w3)
_TT_QVO_MLP = ("q_proj", "v_proj", "output_proj", "w1", "w2", "w3")
TORCHTUNE_SETUPS: dict[tuple[str, str], tuple[TrainSetup, str]] = {
    ("Llama-3.1-8B", "full"): (
        TrainSetup("full", 2, 2048, **{**_TT, "optimizer": "paged_adamw_8bit"}, optimizer_in_backward=True),
        "b2 s2048 bf16, PagedAdamW8bit, optimizer_in_bwd, AC, chunked CE",
    ),
    ("Llama-3.1-8B", "lora"): (
        TrainSetup("lora", 2, 2048, lora_rank=8, lora_targets=_TT_QVO_MLP, **_TT),
        "b2 s2048 bf16, r8 q/v/out+MLP, AdamW fused, AC, chunked CE",
    ),
    ("Llama-3.1-8B", "qlora"): (
        TrainSetup(
            "qlora",
            2,
            2048,
            lora_rank=8,
            quant_bits=4,
            lora_targets=("q_proj", "k_proj", "v_proj", "output_proj", "w1", "w2", "w3"),
            **_TT,
        ),
        "b2 s2048 bf16, NF4, r8 q/k/v/out+MLP, AdamW fused, AC, chunked CE",
    ),
    ("Llama-3.2-3B", "lora"): (
        TrainSetup("lora", 1, 4096, lora_rank=64, lora_targets=_TT_QVO_MLP, **_TT),
        "s4096 (stated), batch not stated -> 1; r64 q/v/out+MLP, AC, chunked CE",
    ),
    ("Llama-3.2-3B", "qlora"): (
        TrainSetup("qlora", 1, 4096, lora_rank=64, quant_bits=4, lora_targets=_TT_QVO_MLP, **_TT),
        "s4096 (stated), batch not stated -> 1; NF4, r64 q/v/out+MLP, AC, chunked CE",
    ),
}


def _torchtune(src: dict, models: dict[str, ModelCard]) -> list[Row]:
    rows = []
    for r in src["rows"]:
        card = model_for(r["model"], models)
        setup, settings = TORCHTUNE_SETUPS[(r["model"], r["method"])]
        est = estimate(card, setup)
        # torchtune logs torch.cuda peak statistics (training/memory.py get_memory_stats); its README
        # figures are the peak ALLOCATED (torchtune PR #961: "20.2 peak memory allocated (and similar for
        # reserved)"), so they are compared with the estimate's allocated part: no CUDA context, no
        # allocator fragmentation, and no bitsandbytes paged (cudaMallocManaged) optimizer states.
        vis = allocator_visible_gb(est, setup) - est.components["overhead"] + CUDA_CONTEXT_GIB
        rows.append(
            Row(
                source="torchtune_readme",
                kind="measured",
                label=r["model"],
                model=card.id,
                method=r["method"],
                settings=settings
                + "; compared: allocated part (total - overhead)"
                + (" - paged optimizer states" if setup.optimizer.startswith("paged") else ""),
                published=f"{r['peak']} GiB ({r['gpus']}x {r['gpu']})",
                published_gib=float(r["peak"]),
                estimate_gib=vis,
                error_pct=_pct(vis, float(r["peak"])),
                components={k: round(v, 2) for k, v in est.components.items()},
            )
        )
    return rows


# --- Axolotl (estimated ranges) ----------------------------------------------------------------

#: Axolotl's stated settings: context 512-2048, micro batch 1-2. The rest follows Axolotl's example
#: configs (examples/llama-3/{qlora,lora}.yml): r=32 on all linear layers, adamw_bnb_8bit,
#: gradient checkpointing, flash attention, HF cross-entropy; full fine-tune: bf16 + AdamW, one
#: process holding everything (their figure is the total VRAM needed).
AXOLOTL_COLUMNS = {
    "qlora_4bit": TrainSetup("qlora", 1, 512, quant_bits=4, lora_rank=32, optimizer="adamw_8bit"),
    "lora_bf16": TrainSetup("lora", 1, 512, lora_rank=32, optimizer="adamw_8bit"),
    "full_bf16_adamw": TrainSetup("full", 1, 512, optimizer="adamw_torch", master_dtype="bf16"),
}


#: Cells the source writes as a number of 80 GB GPUs, not as GB (docs/choosing_method.qmd @067b021:
#: "2-4x 80 GB", "2x 80 GB", "4-8x 80 GB"); vram.yaml transcribes them as totals (160-320, 160, 320-640).
#: A GPU count is compared as a GPU count: the fewest 80 GiB GPUs, sharded with FSDP as Axolotl's
#: multi-GPU guide does, on which ftgen's per-GPU estimate fits.
AXOLOTL_GPU_COUNT_CELLS = {
    ("30-34B", "full_bf16_adamw"): (2, 4),
    ("70-72B", "lora_bf16"): (2, 2),
    ("70-72B", "full_bf16_adamw"): (4, 8),
}
GPU_GIB = 80.0
MAX_GPUS = 64

#: the settings grid the source states: context 512-2048, micro batch 1-2
AXOLOTL_GRID = [(s, b) for s in (512, 2048) for b in (1, 2)]


def _grid(cards: list[ModelCard], base: TrainSetup) -> list[tuple[ModelCard, TrainSetup]]:
    """Every (model, setup) of a row: each model it stands for under each stated setting."""
    return [(c, replace(base, sequence_len=s, micro_batch_size=b)) for c in cards for s, b in AXOLOTL_GRID]


def gpus_needed(card: ModelCard, setup: TrainSetup, gpu_gib: float = GPU_GIB) -> int | None:
    """The fewest GPUs of gpu_gib on which the per-GPU estimate fits (one GPU unsharded, more with FSDP).

    FSDP is counted with gradients synchronised every micro batch (gradient accumulation 1 or Accelerate's
    sync_each_batch): under no_sync every rank would hold the whole model's gradients (memory.gradients_bytes).
    """
    for n in range(1, MAX_GPUS + 1):
        shard = replace(setup, world_size=n, sharding="single" if n == 1 else "fsdp")
        if n > 1 and shard.gradient_accumulation_steps is None:
            shard = replace(shard, gradient_accumulation_steps=1)
        if estimate(card, shard).total_gb <= gpu_gib:
            return n
    return None


def _gpu_count_check(cards: list[ModelCard], base: TrainSetup, stated: tuple[int, int]) -> tuple[list[int], str]:
    """The source's "N x 80 GB" read as a GPU count: ([fewest, most] GPUs over models and settings), verdict."""
    counts = [gpus_needed(c, setup) for c, setup in _grid(cards, base)]
    if any(n is None for n in counts):
        return [], f"does not fit {MAX_GPUS} GPUs"
    lo, hi = min(counts), max(counts)
    return [lo, hi], _range_verdict(lo, hi, *stated)


def _axolotl(src: dict, models: dict[str, ModelCard]) -> list[Row]:
    rows = []
    for r in src["rows"]:
        cards = models_for(r["size"], models)
        for col, base in AXOLOTL_COLUMNS.items():
            lo_hi = r.get(col)
            if lo_hi is None:
                continue
            plo, phi = lo_hi
            plo_gib = plo * GB_TO_GIB
            phi_gib = None if phi is None else phi * GB_TO_GIB
            if not cards:
                rows.append(
                    Row(
                        "axolotl_choosing_method",
                        "estimated",
                        r["size"],
                        "-",
                        col,
                        "-",
                        f"{plo}-{phi} GB",
                        None,
                        None,
                        verdict="no representative model",
                    )
                )
                continue
            ests = [estimate(c, setup) for c, setup in _grid(cards, base)]
            lo = min(e.total_gb for e in ests)
            hi = max(e.total_gb for e in ests)
            mid_pub = plo_gib if phi_gib is None else (plo_gib + phi_gib) / 2
            row = Row(
                source="axolotl_choosing_method",
                kind="estimated",
                label=r["size"],
                model=" / ".join(c.id for c in cards),
                method=col,
                settings="s 512-2048, b 1-2 (stated); r32 all-linear, adamw_8bit / AdamW, AC, FA2 (Axolotl examples)",
                published=f"{plo}-{'' if phi is None else phi} GB",
                published_gib=[round(plo_gib, 2), None if phi_gib is None else round(phi_gib, 2)],
                estimate_gib=[lo, hi],
                error_pct=_pct((lo + hi) / 2, mid_pub),
                verdict=_range_verdict(lo, hi, plo_gib, phi_gib),
            )
            stated = AXOLOTL_GPU_COUNT_CELLS.get((r["size"], col))
            if stated is not None:
                row.gpus_stated = list(stated)
                row.gpus_estimate, row.gpus_verdict = _gpu_count_check(cards, base, stated)
            rows.append(row)
    return rows


# --- LLaMA-Factory (estimated, settings unknown) -----------------------------------------------

#: The README table states no settings. ftgen applies LLaMA-Factory's example defaults
#: (examples/train_lora/llama3_lora_sft.yaml): cutoff_len 2048, per_device_train_batch_size 1,
#: lora_rank 8, lora_target all, bf16, gradient checkpointing (on by default), SDPA/flash attention.
_LF = dict(micro_batch_size=1, sequence_len=2048, lora_rank=8, lora_dropout=0.0)  # LLaMA-Factory default dropout 0
LLAMAFACTORY_ROWS = {
    ("full", "amp_fp32_master", 32): TrainSetup("full", master_dtype="fp32", **_LF),
    ("full", "pure_bf16", 16): TrainSetup("full", master_dtype="bf16", **_LF),
    ("lora", None, 16): TrainSetup("lora", **_LF),
    ("qlora", None, 8): TrainSetup("qlora", quant_bits=8, **_LF),
    ("qlora", None, 4): TrainSetup("qlora", quant_bits=4, **_LF),
}
LF_SETTINGS = "settings unknown; used LF example defaults: b1, cutoff 2048, r8 all-linear, AdamW, AC"


def _point_rows(
    source: str,
    kind: str,
    label: str,
    method: str,
    card: ModelCard | None,
    setup: TrainSetup | None,
    pub_gb: float,
    settings: str,
    known: bool,
) -> Row:
    if card is None or setup is None:
        why = "no representative model" if card is None else "not estimated (ftgen supports 4/8-bit only)"
        return Row(
            source,
            kind,
            label,
            "-" if card is None else card.id,
            method,
            settings,
            f"{pub_gb} GB",
            pub_gb * GB_TO_GIB,
            None,
            verdict=why,
            settings_known=known,
        )
    est = estimate(card, setup)
    pub = pub_gb * GB_TO_GIB
    return Row(
        source,
        kind,
        label,
        card.id,
        method,
        settings,
        f"{pub_gb} GB",
        pub,
        est.total_gb,
        error_pct=_pct(est.total_gb, pub),
        settings_known=known,
        components={k: round(v, 2) for k, v in est.components.items()},
    )


def _llamafactory(src: dict, models: dict[str, ModelCard]) -> list[Row]:
    rows = []
    for r in src["rows"]:
        key = (r["method"], r.get("precision"), r["bits"])
        setup = LLAMAFACTORY_ROWS.get(key)
        method = f"{r['method']} {r.get('precision') or str(r['bits']) + '-bit'}"
        for size, gb in r["sizes"].items():
            rows.append(
                _point_rows(
                    "llamafactory_readme",
                    "estimated",
                    size,
                    method,
                    model_for(size, models),
                    setup,
                    gb,
                    LF_SETTINGS,
                    known=False,
                )
            )
    return rows


# --- Unsloth (estimated minimum, Unsloth kernels) ----------------------------------------------

#: Unsloth states minimums for its own kernels (fused cross-entropy, offloaded checkpoints),
#: settings unknown; ftgen applies b1, s2048, r16 all-linear, adamw_8bit, fused CE. ftgen models
#: stock frameworks, so it is expected to sit above these figures.
UNSLOTH_COLUMNS = {
    "qlora_4bit": TrainSetup(
        "qlora", 1, 2048, quant_bits=4, optimizer="adamw_8bit", cross_entropy="fused", lora_dropout=0.0
    ),
    "lora_16bit": TrainSetup("lora", 1, 2048, optimizer="adamw_8bit", cross_entropy="fused", lora_dropout=0.0),
}
UNSLOTH_SETTINGS = "settings unknown (minimum, Unsloth kernels); used b1 s2048 r16 all-linear adamw_8bit fused CE"


def _unsloth(src: dict, models: dict[str, ModelCard]) -> list[Row]:
    rows = []
    for r in src["rows"]:
        for col, setup in UNSLOTH_COLUMNS.items():
            rows.append(
                _point_rows(
                    "unsloth_requirements",
                    "estimated minimum",
                    r["size"],
                    col,
                    model_for(r["size"], models),
                    setup,
                    r[col],
                    UNSLOTH_SETTINGS,
                    known=False,
                )
            )
    return rows


# --- seed blog post (rule of thumb) --------------------------------------------------------------

SEED_SETTINGS = "settings unknown; used LF example defaults (b1, s2048, r8 all-linear)"


def _seed(src: dict, models: dict[str, ModelCard]) -> list[Row]:
    rows = []
    for r in src["rows"]:
        card = model_for(r["size"], models)
        if "gb" in r:
            setup = {
                "qlora": LLAMAFACTORY_ROWS[("qlora", None, 4)],
                "lora": LLAMAFACTORY_ROWS[("lora", None, 16)],
                "full": LLAMAFACTORY_ROWS[("full", "pure_bf16", 16)],
            }[r["method"]]
            rows.append(
                _point_rows(
                    "seed", "rule of thumb", r["size"], r["method"], card, setup, r["gb"], SEED_SETTINGS, known=False
                )
            )
        else:
            # "8x H100 minimum": does a full fine-tune fit in 8 x 80 GiB, with ZeRO-3 or ZeRO-3 offload?
            base = replace(LLAMAFACTORY_ROWS[("full", "pure_bf16", 16)], world_size=8, master_dtype="auto")
            z3 = estimate(card, replace(base, sharding="zero3")).total_gb
            off = estimate(card, replace(base, sharding="zero3_offload")).total_gb
            rows.append(
                Row(
                    "seed",
                    "rule of thumb",
                    r["size"],
                    card.id,
                    r["method"],
                    "8 GPUs, b1 s2048, mixed-precision AdamW",
                    r.get("note", ""),
                    None,
                    z3,
                    verdict=f"zero3 {z3:.0f} GiB/GPU {'fits' if z3 <= 80 * 0.9 else 'does NOT fit'} 80 GiB; "
                    f"zero3_offload {off:.0f} GiB/GPU {'fits' if off <= 80 * 0.9 else 'does NOT fit'}",
                    settings_known=False,
                )
            )
    return rows


def master_sensitivity(anchors: dict, models: dict[str, ModelCard]) -> list[dict]:
    """The full fine-tune rows of Axolotl's table under each master-weights assumption.

    pure bf16 (ftgen's default on one GPU / DDP: HF Trainer keeps a bf16-loaded model in bf16 and
    torch AdamW keeps its moments in bf16: 2+2+4 = 8 bytes/param) against an fp32 master with AMP
    (LLaMA-Factory's default upcast; HF model_memory_anatomy: 6+4+8 = 18 bytes/param).
    """
    src = anchors["sources"].get("axolotl_choosing_method")
    out: list[dict] = []
    if not src:
        return out
    for r in src["rows"]:
        cards = models_for(r["size"], models)
        if not cards or r.get("full_bf16_adamw") is None:
            continue
        plo, phi = r["full_bf16_adamw"]
        pub = [plo * GB_TO_GIB, None if phi is None else phi * GB_TO_GIB]
        entry: dict[str, Any] = {"size": r["size"], "published_gib": pub}
        for master in ("bf16", "fp32"):
            base = replace(AXOLOTL_COLUMNS["full_bf16_adamw"], master_dtype=master)
            tot = [estimate(c, setup).total_gb for c, setup in _grid(cards, base)]
            entry[master] = {
                "estimate_gib": [min(tot), max(tot)],
                "verdict": _range_verdict(
                    min(tot), max(tot), plo * GB_TO_GIB, None if phi is None else phi * GB_TO_GIB
                ),
            }
        out.append(entry)
    return out


SOURCES = {
    "torchtune_readme": _torchtune,
    "axolotl_choosing_method": _axolotl,
    "llamafactory_readme": _llamafactory,
    "unsloth_requirements": _unsloth,
    "seed": _seed,
}


def compare(anchors: dict, models: dict[str, ModelCard] | None = None) -> list[Row]:
    """Every anchors row next to ftgen's estimate under the source's stated (or chosen) settings."""
    models = models if models is not None else load_models()[0]
    rows: list[Row] = []
    for name, src in anchors["sources"].items():
        fn = SOURCES.get(name)
        if fn is not None:
            rows.extend(fn(src, models))
    return rows


def summarize(rows: list[Row]) -> dict[str, Any]:
    """Per source: median absolute % error of point comparisons, ranges inside/total; targets."""
    out: dict[str, Any] = {"sources": {}}
    for src in dict.fromkeys(r.source for r in rows):
        mine = [r for r in rows if r.source == src]
        errs = [abs(r.error_pct) for r in mine if r.error_pct is not None and not isinstance(r.estimate_gib, list)]
        ranges = [r for r in mine if isinstance(r.estimate_gib, list)]
        entry: dict[str, Any] = {
            "kind": mine[0].kind,
            "rows": len(mine),
            "settings_known": all(r.settings_known for r in mine),
        }
        if errs:
            entry["median_abs_error_pct"] = round(statistics.median(errs), 1)
            entry["compared"] = len(errs)
        if ranges:
            entry["ranges_inside"] = sum(r.verdict == "inside" for r in ranges)
            entry["ranges_total"] = len(ranges)
        out["sources"][src] = entry
    measured = [abs(r.error_pct) for r in rows if r.kind == "measured" and r.error_pct is not None]
    ranges = [r for r in rows if isinstance(r.estimate_gib, list)]
    out["measured_median_abs_error_pct"] = round(statistics.median(measured), 1) if measured else None
    out["measured_target_pct"] = MEASURED_MEDIAN_TARGET
    out["measured_ok"] = bool(measured) and statistics.median(measured) <= MEASURED_MEDIAN_TARGET
    out["ranges_inside"] = sum(r.verdict == "inside" for r in ranges)
    out["ranges_total"] = len(ranges)
    counted = [r for r in rows if r.gpus_stated is not None]
    out["gpu_counts_inside"] = sum(r.gpus_verdict == "inside" for r in counted)
    out["gpu_counts_total"] = len(counted)
    # Axolotl's ranges are estimates that read low against measured runs (issue 19; benchmarks/memory_published.py
    # holds the estimator to MEASURED figures): the target is only that ftgen never plans below them
    out["ranges_below"] = sum(r.verdict == "below" for r in ranges)
    out["gpu_counts_below"] = sum(r.gpus_verdict == "below" for r in counted)
    out["ranges_ok"] = out["ranges_below"] == 0 and out["gpu_counts_below"] == 0
    return out


# ----------------------------------------------------------------------------- output


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return f"{_fmt(v[0])}-{'' if v[1] is None else _fmt(v[1])}"
    return f"{v:.1f}"


def render(rows: list[Row], summary: dict, origin: str, sensitivity: list[dict] | None = None) -> str:
    lines = [
        f"ftgen memory benchmark - model shapes from {origin}; all figures GiB "
        f'(tables\' "GB" read as {"1e9 bytes" if GB_TO_GIB != 1.0 else "GiB, the unit GPU memory is sized in"})',
        "",
    ]
    head = f"{'source':<24} {'size/model':<13} {'method':<20} {'published':>13} {'estimate':>13} {'error':>9}  note"
    for src in dict.fromkeys(r.source for r in rows):
        mine = [r for r in rows if r.source == src]
        lines.append(f"== {src} ({mine[0].kind})")
        settings = list(dict.fromkeys(r.settings for r in mine))
        if not all(r.settings_known for r in mine):
            lines.append("   SETTINGS UNKNOWN - the source states no sequence length / batch; ftgen's choice:")
        if len(settings) == 1:
            lines.append(f"   settings: {settings[0]}")
        lines.append(head)
        for r in mine:
            err = "-" if r.error_pct is None else f"{r.error_pct:+.1f}%"
            note = r.verdict
            if isinstance(r.estimate_gib, list):
                note = f"{r.verdict} range"
            if r.gpus_stated is not None:
                lo, hi = r.gpus_stated
                est = "-" if not r.gpus_estimate else "-".join(map(str, sorted(set(r.gpus_estimate))))
                note += (
                    f"; stated as {lo if lo == hi else f'{lo}-{hi}'}x 80 GB GPUs: ftgen needs {est} "
                    f"with FSDP -> {r.gpus_verdict}"
                )
            if len(settings) > 1:
                note = f"{note + '; ' if note else ''}{r.settings}"
            lines.append(
                f"{src[:24]:<24} {r.label[:13]:<13} {r.method[:20]:<20} {_fmt(r.published_gib):>13} "
                f"{_fmt(r.estimate_gib):>13} {err:>9}  {note}"
            )
        e = summary["sources"][src]
        bits = []
        if "median_abs_error_pct" in e:
            bits.append(f"median |error| {e['median_abs_error_pct']}% over {e['compared']} rows")
        if "ranges_total" in e:
            bits.append(f"{e['ranges_inside']}/{e['ranges_total']} estimate ranges overlap the stated ranges")
        lines.append(f"   -> {'; '.join(bits) or 'no numeric comparison'}")
        lines.append("")
    lines.append(
        f"TARGET measured rows (torchtune): median |error| {summary['measured_median_abs_error_pct']}% "
        f"<= {summary['measured_target_pct']}%: {'PASS' if summary['measured_ok'] else 'FAIL'}"
    )
    lines.append(
        f"TARGET estimated ranges (Axolotl): the estimate never below a range ({summary['ranges_inside']}/"
        f"{summary['ranges_total']} inside, {summary['ranges_below']} below; GPU counts "
        f"{summary['gpu_counts_inside']}/{summary['gpu_counts_total']} inside, {summary['gpu_counts_below']} below): "
        f"{'PASS' if summary['ranges_ok'] else 'FAIL'}"
    )
    lines.append("LLaMA-Factory, Unsloth and seed rows: settings unknown, reported for information only.")
    if sensitivity:
        lines += [
            "",
            "Effect of the full fine-tune master-weights choice on Axolotl's full_bf16_adamw rows:",
            f"{'size':<10} {'published':>13} {'pure bf16 (8 B/param, default)':>34} "
            f"{'fp32 master + AMP (18 B/param)':>34}",
        ]
        for e in sensitivity:
            cells = [f"{_fmt(e[m]['estimate_gib'])} {e[m]['verdict']}" for m in ("bf16", "fp32")]
            lines.append(f"{e['size']:<10} {_fmt(e['published_gib']):>13} {cells[0]:>34} {cells[1]:>34}")
    return "\n".join(lines)


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 2)
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, epilog="exit status: 0 when both targets are met, 1 when one is missed, 2 bad input"
    )
    ap.add_argument("--anchors", type=Path, default=DEFAULT_ANCHORS, help="vram.yaml with the published figures")
    ap.add_argument("--json", action="store_true", help="print rows and summary as JSON")
    ap.add_argument(
        "--gb-decimal",
        action="store_true",
        help='read "GB" in the estimated tables as 1e9 bytes (default: as GiB, like GPU memory sizes)',
    )
    args = ap.parse_args(argv)
    global GB_TO_GIB
    if args.gb_decimal:
        GB_TO_GIB = 1e9 / GIB
    if not args.anchors.is_file():
        print(f"anchors file not found: {args.anchors}", file=sys.stderr)
        return 2
    anchors = yaml.safe_load(args.anchors.read_text(encoding="utf-8"))
    models, origin = load_models()
    rows = compare(anchors, models)
    summary = summarize(rows)
    sens = master_sensitivity(anchors, models)
    if args.json:
        doc = {
            "models_from": origin,
            "gb_read_as_gib": GB_TO_GIB == 1.0,
            "rows": [asdict(r) for r in rows],
            "summary": summary,
            "master_weights_sensitivity": sens,
        }
        print(json.dumps(_rounded(doc), indent=2))
    else:
        print(render(rows, summary, origin, sens))
    return 0 if summary["measured_ok"] and summary["ranges_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
