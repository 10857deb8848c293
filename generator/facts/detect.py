"""`ftgen gpus --detect`: this machine's NVIDIA GPUs (nvidia-smi) by their catalog names, for the user's spec.

Only this command looks at the machine; a build never does (a build is a function of the spec, the catalog
and the lock file, so `ftgen check` answers the same on a laptop and in CI).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .gpus import Ambiguous, find_gpu, load_gpus
from .types import GPU

TIMEOUT_S = 20
_GPU_LINE = re.compile(r"^GPU\s+(\d+):\s*(.+?)\s*\(UUID:", re.IGNORECASE)
_MIG_LINE = re.compile(r"^\s*MIG\s+(\S+)\s+Device\s+(\d+):", re.IGNORECASE)
_MIG_PROFILE = re.compile(r"(\d+)g\.(\d+)gb", re.IGNORECASE)


@dataclass
class Device:
    """One physical GPU as nvidia-smi lists it, with its MIG slices (profile names such as 3g.40gb)."""

    index: int
    name: str
    memory_mib: int | None = None
    mig: list[str] = field(default_factory=list)


def parse_list(text: str) -> list[Device]:
    """Parse `nvidia-smi -L`: "GPU 0: NVIDIA A100-SXM4-80GB (UUID: ...)" and indented "MIG 3g.40gb Device 0:"."""
    devices: list[Device] = []
    for line in text.splitlines():
        gpu = _GPU_LINE.match(line.strip())
        if gpu:
            devices.append(Device(int(gpu.group(1)), gpu.group(2)))
            continue
        mig = _MIG_LINE.match(line)
        if mig and devices:
            devices[-1].mig.append(mig.group(1))
    return devices


def parse_memory(text: str) -> dict[int, int]:
    """Parse `nvidia-smi --query-gpu=index,memory.total --format=csv,noheader,nounits`: index -> MiB.

    A MIG container may print "[Insufficient Permissions]" or "[N/A]": such rows are left out.
    """
    out: dict[int, int] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            out[int(parts[0])] = int(parts[1])
    return out


def _run(run: Callable, args: list[str]) -> tuple[str | None, str]:
    try:
        done = run(args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    if done.returncode != 0:
        first = (done.stdout or done.stderr or "").strip().splitlines()
        return None, first[0] if first else f"exit status {done.returncode}"
    return done.stdout, ""


def detect(run: Callable = subprocess.run, which: Callable = shutil.which) -> tuple[list[Device], str]:
    """This machine's GPUs, or ([], why none were found)."""
    exe = which("nvidia-smi")
    if exe is None:
        return [], "nvidia-smi is not on PATH (no NVIDIA driver here)"
    listing, why = _run(run, [exe, "-L"])
    if listing is None:
        return [], f"nvidia-smi failed: {why}"
    devices = parse_list(listing)
    if not devices:
        return [], "nvidia-smi lists no GPU"
    memory, _ = _run(run, [exe, "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"])
    sizes = parse_memory(memory or "")
    for d in devices:
        d.memory_mib = sizes.get(d.index)
    return devices, ""


def _slice_gb(profile: str) -> int | None:
    m = _MIG_PROFILE.search(profile)
    return int(m.group(2)) if m else None


def _catalog_card(device: Device) -> GPU | None:
    """The catalog card of a physical GPU (an ambiguous name is settled by the memory nvidia-smi reports)."""
    found = find_gpu(device.name)
    if isinstance(found, Ambiguous):  # nvidia-smi prints full names, but other tools may not
        gib = (device.memory_mib or 0) / 1024
        picks = [c for c in found.choices if abs(gib - load_gpus()[c].vram_gb) < 4]
        found = load_gpus()[picks[0]] if len(picks) == 1 else None
    return found


def _spec_lines(device: Device, card: GPU | None) -> list[list[str]]:
    """For each way a training process can use this GPU (the card, or each MIG slice): the hardware keys."""
    if device.mig:
        out = []
        for profile in device.mig:
            m = _MIG_PROFILE.search(profile)
            if m is None:
                continue
            keys = [f"vram_gb: {m.group(2)}"]
            if card is not None and not card.unsupported:  # a slice has the card's features, part of its compute
                share = int(m.group(1)) / (4 if card.name == "A30" else 7)
                keys += [
                    f"bf16: {str(card.bf16).lower()}",
                    f"fp8: {str(card.fp8).lower()}",
                    f"flash_attention: {str(card.flash_attention).lower()}",
                    f"tflops_bf16: {card.tflops_bf16 * share:.0f}   # {m.group(1)}/{4 if card.name == 'A30' else 7}"
                    f" of the {card.name}'s compute",
                ]
            out.append(keys)
        return out
    if card is not None:
        return [] if card.unsupported else [[f"gpu: {card.name}"]]
    if device.memory_mib:
        return [[f"vram_gb: {round(device.memory_mib / 1024)}"]]
    return []


def describe(device: Device, card: GPU | None) -> str:
    """What the physical GPU is, in catalog terms."""
    if card is not None and card.unsupported:
        return f"{card.name}: not supported ({card.unsupported})"
    if card is not None:
        return card.name
    memory = f"{device.memory_mib / 1024:.0f} GiB" if device.memory_mib else "memory unknown"
    return f"not in the catalog ({memory})"


def report(devices: list[Device], why: str) -> str:
    """Plain text for the terminal: each GPU, its catalog name, and the hardware lines to put in the spec."""
    if not devices:
        return (
            f"No NVIDIA GPU found on this machine: {why.rstrip('.')}.\n"
            "Plan for the GPU you will train on: `ftgen gpus` lists them."
        )
    lines: list[str] = []
    options: list[tuple[str, ...]] = []
    for d in devices:
        card = _catalog_card(d)
        lines.append(f"GPU {d.index}: {d.name} -> {describe(d, card)}")
        for profile in d.mig:
            gb = _MIG_PROFILE.search(profile)
            lines.append(f"  MIG slice {profile} -> vram_gb: {gb.group(2)}" if gb else f"  MIG slice {profile}")
        options += [tuple(keys) for keys in _spec_lines(d, card)]
        if card is None and not d.mig and not d.memory_mib:
            lines.append("  (memory unknown: give hardware.vram_gb yourself)")
    if not options:
        lines.append("\nNo GPU here that ftgen can plan for.")
        return "\n".join(lines)
    counts = Counter(options)
    mig = any(d.mig for d in devices)
    if mig:  # the largest slice; a job gets one slice
        keys = max(counts, key=lambda k: int(k[0].split(":")[1]))
        n = 1
    else:
        keys, n = counts.most_common(1)[0]
    lines += ["", "Put this in the spec:", "hardware:", *(f"  {k}" for k in keys)]
    if mig:
        lines.append("  gpus_per_node: 1   # a CUDA process sees one MIG slice")
        if len(counts) > 1:
            lines.append("These lines are for the largest slice: use the vram_gb of the slice your job runs on.")
    elif n > 1:
        lines.append(f"  gpus_per_node: {n}")
    if len(counts) > 1 and not mig:
        lines.append("This machine has different GPUs: these lines are for the most common; a job uses one kind.")
    if any(k.startswith("vram_gb") for k in keys) and not mig:
        lines.append(
            "A card not in the catalog is planned as Ampere-class (bf16, FlashAttention-2, no fp8) unless the "
            "spec states hardware.bf16 / fp8 / flash_attention / tflops_bf16."
        )
    return "\n".join(lines)
