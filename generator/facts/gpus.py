"""GPU facts: the built-in catalog (catalog/gpus.yaml), names as nvidia-smi prints them, custom cards by memory."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from functools import cache

from generator._resources import catalog_dir
from generator._yaml import load_trusted_file
from generator.errors import FtgenError, Problem
from generator.facts.types import GPU

_GPU_FIELDS = {f.name for f in fields(GPU)} - {"assumed"}
_PREFIXES = re.compile(r"^(nvidia|geforce|tesla|amd|instinct)+")
_MOBILE = re.compile(r"laptop|mobile|with max-q", re.IGNORECASE)

#: What ftgen assumes of a GPU known only by its memory (hardware.vram_gb), capability by capability,
#: unless the spec states it (hardware.bf16, ...): an Ampere-class card, the oldest generation that
#: fine-tuning stacks fully support, and no price.
CUSTOM_DEFAULTS = {"bf16": True, "flash_attention": True, "fp8": False, "tflops_bf16": 100.0}
CUSTOM_KEYS = tuple(CUSTOM_DEFAULTS)


@dataclass(frozen=True)
class Ambiguous:
    """A name that several catalog cards with different memory sizes answer to."""

    name: str
    choices: tuple[str, ...]
    formerly: str | None = None


def normalise(name: str) -> str:
    """Case-, space- and punctuation-insensitive key: 'NVIDIA A100 80GB' -> 'a10080g'."""
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    key = _PREFIXES.sub("", key)
    return key.replace("gb", "g")


@cache
def _catalog() -> tuple[dict[str, GPU], dict[str, str], dict[str, Ambiguous]]:
    """Load the catalog once: GPUs by name; normalised names and aliases -> name; ambiguous names."""
    data = load_trusted_file(catalog_dir() / "gpus.yaml")
    if data.get("schema_version") != 2:
        raise ValueError(f"gpus.yaml: unsupported schema_version {data.get('schema_version')!r}")
    gpus: dict[str, GPU] = {}
    index: dict[str, str] = {}

    def claim(key: str, owner: str, spelling: str) -> None:
        if index.get(key, owner) != owner:
            raise ValueError(f"gpus.yaml: {spelling!r} names both {index[key]} and {owner}")
        index[key] = owner

    for entry in data["gpus"]:
        unknown = set(entry) - _GPU_FIELDS
        if unknown:
            raise ValueError(f"gpus.yaml: {entry.get('name')}: unknown keys {sorted(unknown)}")
        values = {**entry, "aliases": tuple(str(a) for a in entry.get("aliases") or ())}
        values["usd_per_hour"] = values.get("usd_per_hour") or 0  # null: no price known
        values["price_date"] = str(values.get("price_date") or "")
        gpu = GPU(**values)
        gpus[gpu.name] = gpu
        size = f"{gpu.vram_gb:g}g"
        for alias in (gpu.name, *gpu.aliases):
            key = normalise(alias)
            claim(key, gpu.name, alias)
            if not gpu.is_cpu and not key.endswith(size):
                claim(key + size, gpu.name, f"{alias} {gpu.vram_gb:g}GB")
    ambiguous: dict[str, Ambiguous] = {}
    for entry in data.get("ambiguous") or []:
        amb = Ambiguous(entry["name"], tuple(entry["choices"]), entry.get("formerly"))
        missing = [c for c in (*amb.choices, amb.formerly or amb.choices[0]) if c not in gpus]
        if missing or len({gpus[c].vram_gb for c in amb.choices}) < 2:
            raise ValueError(f"gpus.yaml: ambiguous {amb.name}: unknown choices {missing} or one memory size")
        for alias in (amb.name, *(entry.get("aliases") or ())):
            key = normalise(alias)
            if key in index or key in ambiguous:
                raise ValueError(f"gpus.yaml: ambiguous {alias!r} is also a catalog name")
            ambiguous[key] = amb
    return gpus, index, ambiguous


def load_gpus() -> dict[str, GPU]:
    """Every catalog GPU, by name (loaded once; a fresh dict per call)."""
    return dict(_catalog()[0])


def ambiguous_names() -> dict[str, Ambiguous]:
    """Ambiguous names by their catalog spelling (A100, V100, ...)."""
    return {a.name: a for a in _catalog()[2].values()}


def find_gpu(name: str) -> GPU | Ambiguous | None:
    """The catalog GPU a name (any spelling nvidia-smi prints) stands for, an Ambiguous, or None."""
    gpus, index, ambiguous = _catalog()
    key = normalise(name)
    if key in index:
        return gpus[index[key]]
    return ambiguous.get(key)


def custom_gpu(vram_gb: float, stated: dict | None = None, usd_per_hour: float | None = None) -> GPU:
    """An uncatalogued GPU known by its memory; capabilities the spec does not state take CUSTOM_DEFAULTS."""
    stated = {k: v for k, v in (stated or {}).items() if v is not None}
    values = {k: stated.get(k, default) for k, default in CUSTOM_DEFAULTS.items()}
    size = int(vram_gb) if float(vram_gb).is_integer() else vram_gb
    return GPU(
        name=f"custom-{size}GB",
        vram_gb=float(vram_gb),
        bf16=bool(values["bf16"]),
        fp8=bool(values["fp8"]),
        flash_attention=bool(values["flash_attention"]),
        usd_per_hour=float(usd_per_hour or 0.0),
        tflops_bf16=float(values["tflops_bf16"]),
        price_source="the spec (hardware.usd_per_hour)" if usd_per_hour else "",
        assumed=tuple(k for k in CUSTOM_KEYS if k not in stated),
    )


def describe_assumed(gpu: GPU) -> str:
    """'bf16, FlashAttention-2, no fp8, 100 TFLOP/s' for the capabilities of a custom GPU that were assumed."""
    words = {
        "bf16": "bf16" if gpu.bf16 else "no bf16",
        "flash_attention": "FlashAttention-2" if gpu.flash_attention else "no FlashAttention-2",
        "fp8": "fp8" if gpu.fp8 else "no fp8",
        "tflops_bf16": f"{gpu.tflops_bf16:g} TFLOP/s bf16",
    }
    return ", ".join(words[k] for k in gpu.assumed)


def _choices(amb: Ambiguous, gpus: dict[str, GPU]) -> str:
    return ", ".join(f"{c} ({gpus[c].vram_gb:g} GB)" for c in amb.choices)


def lookup_gpu(
    name: str | None,
    vram_gb: float | None,
    file: str,
    key: str,
    custom: dict | None = None,
    usd_per_hour: float | None = None,
) -> GPU:
    """A catalog GPU by name (case-insensitive, nvidia-smi spellings included), else a custom GPU from `vram_gb`.

    An ambiguous name (A100: 40 or 80 GB) is an error listing the choices, unless `vram_gb` picks one. With a
    catalog name, `vram_gb` must agree with the catalog. `custom` states a custom GPU's capabilities
    (CUSTOM_KEYS); `usd_per_hour` overrides the catalog's price.
    """
    gpus, _, _ = _catalog()
    if name is None:
        if vram_gb is None or vram_gb <= 0:
            raise FtgenError(
                [
                    Problem(
                        file, key, "no GPU given", found=vram_gb, allowed="a GPU name from the catalog, or vram_gb > 0"
                    )
                ]
            )
        return custom_gpu(vram_gb, custom, usd_per_hour)
    found = find_gpu(str(name))
    if isinstance(found, Ambiguous):
        picked = [c for c in found.choices if vram_gb is not None and gpus[c].vram_gb == float(vram_gb)]
        if len(picked) != 1:
            raise FtgenError([_ambiguous_problem(name, found, gpus, file, key)])
        found = gpus[picked[0]]
    if found is not None and vram_gb is not None and float(vram_gb) != found.vram_gb:
        same = [g.name for g in gpus.values() if g.vram_gb == float(vram_gb) and not g.unsupported]
        hint = f"; catalog GPUs with {vram_gb:g} GB: {', '.join(same)}" if same else ""
        raise FtgenError(
            [
                Problem(
                    file,
                    key,
                    f"{name} has {found.vram_gb:g} GB in the catalog, not {vram_gb:g}",
                    found=vram_gb,
                    allowed=f"omit vram_gb, or name another GPU{hint}",
                )
            ]
        )
    if found is not None and found.unsupported:
        raise FtgenError(
            [
                Problem(
                    file,
                    key,
                    f"{found.name} is not supported: {found.unsupported}",
                    found=name,
                    allowed="an NVIDIA GPU from the catalog (`ftgen gpus`), or CPU",
                )
            ]
        )
    if found is not None:
        if usd_per_hour:
            from dataclasses import replace

            return replace(found, usd_per_hour=float(usd_per_hour), price_source="the spec (hardware.usd_per_hour)")
        return found
    raise FtgenError([_unknown_problem(name, gpus, file, key)])


def _ambiguous_problem(name: str, amb: Ambiguous, gpus: dict[str, GPU], file: str, key: str) -> Problem:
    message = (
        f"{name} is ambiguous: it names {len(amb.choices)} cards with different memory, and the memory decides the plan"
    )
    if amb.formerly:
        message += (
            f". Earlier ftgen versions (0.1) silently read {amb.name} as {amb.formerly} "
            f"({gpus[amb.formerly].vram_gb:g} GB): a plan built from such a spec assumed that card"
        )
    return Problem(
        file,
        key,
        message,
        found=name,
        allowed=f"one of {_choices(amb, gpus)} (`ftgen gpus --detect` prints the name of the local card)",
    )


def _unknown_problem(name: str, gpus: dict[str, GPU], file: str, key: str) -> Problem:
    _, index, ambiguous = _catalog()
    if _MOBILE.search(str(name)):  # "RTX 4090 Laptop GPU" has 16 GB, the desktop RTX 4090 24 GB
        return Problem(
            file,
            key,
            "unknown GPU: a laptop GPU has less memory than the desktop card of the same number",
            found=name,
            allowed="hardware.vram_gb with the laptop GPU's memory (nvidia-smi --query-gpu=memory.total)",
        )
    import difflib  # for a suggestion only: a clean run never needs it

    close = difflib.get_close_matches(normalise(name), list(index) + list(ambiguous), n=8, cutoff=0.5)
    names = list(dict.fromkeys(index[c] if c in index else ambiguous[c].name for c in close))[:4]
    hint = f"closest: {', '.join(names)}; " if names else ""
    return Problem(
        file,
        key,
        "unknown GPU",
        found=name,
        allowed=f"a catalog GPU ({hint}`ftgen gpus` lists them), or hardware.vram_gb for a card not in the catalog",
    )
