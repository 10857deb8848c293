"""Load a requirements spec: safe YAML, JSON Schema validation, a frozen Spec."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Mapping

from jsonschema import Draft202012Validator

from ._resources import schemas_dir
from ._schema_errors import schema_problems
from ._yaml import load_text
from .errors import FtgenError, Problem


@dataclass(frozen=True)
class TrainData:
    path: str
    format: str
    split: str = "train"


@dataclass(frozen=True)
class DataSpec:
    train: tuple[TrainData, ...]
    examples: int | None = None
    avg_tokens: float | None = None
    distribution_shift: str = "low"
    multi_turn: bool = False
    unique_domain: bool = False


@dataclass(frozen=True)
class EvalSpec:
    path: str
    max_new_tokens: int = 128
    harness_tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hardware:
    gpu: str | None = None
    vram_gb: float | None = None
    gpus_per_node: int = 1
    nodes: int = 1

    @property
    def world_size(self) -> int:
        return self.gpus_per_node * self.nodes


@dataclass(frozen=True)
class Budget:
    max_usd: float | None = None
    max_hours: float | None = None


@dataclass(frozen=True)
class Goals:
    serve_many_adapters: bool = False
    priority: str = "balanced"


@dataclass(frozen=True)
class RLSpec:
    reward_funcs: tuple[str, ...] = ()
    num_generations: int = 8
    max_completion_length: int = 256


@dataclass(frozen=True)
class Spec:
    """A validated requirements spec. `file` is how errors name it; `base_dir` anchors relative paths."""

    name: str
    base_model: str
    data: DataSpec
    task: str = "sft"
    eval: EvalSpec | None = None
    hardware: Hardware = field(default_factory=Hardware)
    budget: Budget = field(default_factory=Budget)
    goals: Goals = field(default_factory=Goals)
    framework: str = "auto"
    method: str = "auto"
    sequence_len: int | None = None
    seed: int = 42
    trust_remote_code: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)
    framework_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    rl: RLSpec | None = None
    file: str = "<spec>"
    base_dir: Path = Path(".")
    sha256: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return None


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((schemas_dir() / "spec.schema.json").read_text())
    return Draft202012Validator(schema)


def schema() -> dict:
    """The spec's JSON Schema."""
    return _validator().schema


def _semantic_problems(data: dict, file: str, line_of) -> list[Problem]:
    """Checks JSON Schema cannot express clearly."""
    out = []
    hw = data.get("hardware") or {}
    if "gpu" in hw and "vram_gb" in hw:
        out.append(Problem(file, "hardware.vram_gb", "give either gpu or vram_gb, not both",
                           found=hw["vram_gb"], allowed="remove one of hardware.gpu / hardware.vram_gb",
                           line=line_of("hardware.vram_gb")))
    task = data.get("task", "sft")
    if task == "grpo" and not (data.get("rl") or {}).get("reward_funcs"):
        out.append(Problem(file, "rl.reward_funcs", "task grpo needs at least one reward function",
                           allowed="a list of module.function names, e.g. [rewards.exact_match]", line=line_of("task")))
    if data.get("rl") is not None and task != "grpo":
        out.append(Problem(file, "rl", "rl settings are only used with task grpo", found=task,
                           allowed="task: grpo, or remove rl", line=line_of("rl")))
    fmt_for_task = {"dpo": {"preference"}, "orpo": {"preference"}, "kto": {"kto"}, "pretrain": {"text"},
                    "sft": {"alpaca", "sharegpt", "messages"}, "grpo": {"alpaca", "messages", "sharegpt"}}
    allowed = fmt_for_task.get(task)
    for i, entry in enumerate((data.get("data") or {}).get("train") or []):
        if isinstance(entry, dict) and allowed and entry.get("format") in {"alpaca", "sharegpt", "messages", "preference", "kto", "text"} \
                and entry["format"] not in allowed:
            key = f"data.train[{i}].format"
            out.append(Problem(file, key, f"format does not suit task {task}", found=entry["format"],
                               allowed=", ".join(sorted(allowed)), line=line_of(key)))
    return out


def _tuple(v):
    return tuple(v) if v is not None else ()


def from_dict(data: Any, file: str = "<spec>", base_dir: Path = Path("."), lines: Mapping[str, int] | None = None,
              sha256: str = "") -> Spec:
    """Validate a parsed spec and build a Spec; raise FtgenError listing every problem."""
    lines = dict(lines or {})

    def line_of(key: str) -> int | None:
        while key:
            if key in lines:
                return lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return None

    if not isinstance(data, dict):
        raise FtgenError([Problem(file, "", "a spec must be a YAML mapping", found=type(data).__name__,
                                  allowed="keys name, base_model, data, ...")])
    problems = schema_problems(_validator(), data, file, line_of)
    if not problems:
        problems = _semantic_problems(data, file, line_of)
    if problems:
        raise FtgenError(problems)
    d = data.get("data", {})
    ev = data.get("eval")
    hw = data.get("hardware") or {}
    rl = data.get("rl")
    return Spec(
        name=data["name"],
        base_model=data["base_model"],
        task=data.get("task", "sft"),
        data=DataSpec(
            train=tuple(TrainData(t["path"], t["format"], t.get("split", "train")) for t in d["train"]),
            examples=d.get("examples"),
            avg_tokens=d.get("avg_tokens"),
            distribution_shift=d.get("distribution_shift", "low"),
            multi_turn=d.get("multi_turn", False),
            unique_domain=d.get("unique_domain", False),
        ),
        eval=EvalSpec(ev["path"], ev.get("max_new_tokens", 128), _tuple(ev.get("harness_tasks"))) if ev else None,
        hardware=Hardware(hw.get("gpu"), hw.get("vram_gb"), hw.get("gpus_per_node", 1), hw.get("nodes", 1)),
        budget=Budget(**(data.get("budget") or {})),
        goals=Goals(**(data.get("goals") or {})),
        framework=data.get("framework", "auto"),
        method=data.get("method", "auto"),
        sequence_len=data.get("sequence_len"),
        seed=data.get("seed", 42),
        trust_remote_code=data.get("trust_remote_code", False),
        overrides=dict(data.get("overrides") or {}),
        framework_overrides={k: dict(v) for k, v in (data.get("framework_overrides") or {}).items()},
        rl=RLSpec(_tuple(rl.get("reward_funcs")), rl.get("num_generations", 8), rl.get("max_completion_length", 256))
        if rl is not None else None,
        file=file,
        base_dir=base_dir,
        sha256=sha256,
        lines=lines,
    )


def load(path: Path | str) -> Spec:
    """Read, parse and validate a spec file."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FtgenError([Problem(file, "", "spec file not found")]) from None
    except IsADirectoryError:
        raise FtgenError([Problem(file, "", "is a directory, expected a spec YAML file")]) from None
    except OSError as exc:
        raise FtgenError([Problem(file, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FtgenError([Problem(file, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    loaded = load_text(text, file)
    return from_dict(loaded.data, file, path.resolve().parent, loaded.lines, hashlib.sha256(raw).hexdigest())
