"""GPU facts: the built-in catalog (catalog/gpus.yaml) or a custom card from its memory size."""

from __future__ import annotations

import difflib
import re
from dataclasses import fields
from functools import cache

from generator._resources import catalog_dir
from generator._yaml import load_trusted
from generator.errors import FtgenError, Problem
from generator.facts.types import GPU

_GPU_FIELDS = {f.name for f in fields(GPU)}


def _norm(name: str) -> str:
    """Case-, space- and punctuation-insensitive key: 'NVIDIA A100 80GB' -> 'a10080g'."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    key = re.sub(r"^(nvidia|geforce|tesla)+", "", key)
    return key.replace("gb", "g")


@cache
def _catalog() -> tuple[dict[str, GPU], dict[str, str]]:
    """Load the catalog once: GPUs by name, and normalized names and aliases -> name."""
    data = load_trusted((catalog_dir() / "gpus.yaml").read_text(encoding="utf-8"))
    if data.get("schema_version") != 1:
        raise ValueError(f"gpus.yaml: unsupported schema_version {data.get('schema_version')!r}")
    gpus: dict[str, GPU] = {}
    index: dict[str, str] = {}
    for entry in data["gpus"]:
        unknown = set(entry) - _GPU_FIELDS
        if unknown:
            raise ValueError(f"gpus.yaml: {entry.get('name')}: unknown keys {sorted(unknown)}")
        gpu = GPU(**{**entry, "aliases": tuple(str(a) for a in entry.get("aliases", ()))})
        gpus[gpu.name] = gpu
        for alias in (gpu.name, *gpu.aliases):
            key = _norm(alias)
            if index.get(key, gpu.name) != gpu.name:
                raise ValueError(f"gpus.yaml: {alias!r} names both {index[key]} and {gpu.name}")
            index[key] = gpu.name
    return gpus, index


def load_gpus() -> dict[str, GPU]:
    """Every catalog GPU, by name (loaded once; a fresh dict per call)."""
    return dict(_catalog()[0])


def custom_gpu(vram_gb: float) -> GPU:
    """An uncatalogued GPU known only by its memory: assumed Ampere-class, no price."""
    size = int(vram_gb) if float(vram_gb).is_integer() else vram_gb
    return GPU(
        name=f"custom-{size}GB",
        vram_gb=float(vram_gb),
        bf16=True,
        fp8=False,
        flash_attention=True,
        usd_per_hour=0.0,
        tflops_bf16=100.0,
    )


def lookup_gpu(name: str | None, vram_gb: float | None, file: str, key: str) -> GPU:
    """A catalog GPU by name or alias (case-insensitive), else a custom GPU from `vram_gb`.

    With both, `vram_gb` must agree with the catalog (an error names the GPUs that do).
    """
    if name is None:
        if vram_gb is None or vram_gb <= 0:
            raise FtgenError(
                [
                    Problem(
                        file, key, "no GPU given", found=vram_gb, allowed="a GPU name from the catalog, or vram_gb > 0"
                    )
                ]
            )
        return custom_gpu(vram_gb)
    gpus, index = _catalog()
    found = index.get(_norm(str(name)))
    if found and vram_gb is not None and float(vram_gb) != gpus[found].vram_gb:
        same = [g.name for g in gpus.values() if g.vram_gb == float(vram_gb)]
        hint = f"; catalog GPUs with {vram_gb:g} GB: {', '.join(same)}" if same else ""
        raise FtgenError(
            [
                Problem(
                    file,
                    key,
                    f"{name} has {gpus[found].vram_gb:g} GB in the catalog, not {vram_gb:g}",
                    found=vram_gb,
                    allowed=f"omit vram_gb, or name another GPU{hint}",
                )
            ]
        )
    if found:
        return gpus[found]
    close = difflib.get_close_matches(_norm(str(name)), list(index), n=6, cutoff=0.4)
    names = list(dict.fromkeys(index[c] for c in close))[:3] or list(gpus)
    raise FtgenError(
        [
            Problem(
                file,
                key,
                "unknown GPU",
                found=name,
                allowed=f"a catalog GPU (closest: {', '.join(names)}) or vram_gb for a custom one",
            )
        ]
    )
