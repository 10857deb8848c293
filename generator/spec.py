"""Load a requirements spec: safe YAML, JSON Schema validation, a frozen Spec."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from ._datacache import load_json_file
from ._fastschema import quick_valid
from ._resources import schemas_dir
from ._schema_errors import schema_problems
from ._secrets import is_secret_name, mask_text
from ._yaml import join_key, line_of, load_text, read_text
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
    # a custom card's capabilities (with vram_gb): bf16, fp8, flash_attention, tflops_bf16; absent keys are assumed
    custom: dict = field(default_factory=dict)
    usd_per_hour: float | None = None

    @property
    def world_size(self) -> int:
        return self.gpus_per_node * self.nodes


@dataclass(frozen=True)
class Budget:
    max_usd: float | None = None
    max_hours: float | None = None


@dataclass(frozen=True)
class Cluster:
    """The `cluster:` block: what slurm.sbatch asks Slurm for (None: the cluster's default / the plan's estimate)."""

    partition: str | None = None
    account: str | None = None
    time: str | None = None
    signal_seconds: int = 300
    sbatch: tuple[str, ...] = ()


#: #SBATCH options slurm.sbatch writes itself; `cluster.sbatch` may not repeat them
SBATCH_OWN = (
    "job-name",
    "nodes",
    "ntasks-per-node",
    "gpus-per-node",
    "output",
    "time",
    "partition",
    "account",
    "signal",
)


@dataclass(frozen=True)
class Goals:
    serve_many_adapters: bool = False
    priority: str = "balanced"


@dataclass(frozen=True)
class RLSpec:
    reward_funcs: tuple[str, ...] = ()
    num_generations: int = 8
    max_completion_length: int = 256


TRACKERS = ("mlflow", "wandb", "tensorboard")
# MLflow tracking URI schemes ftgen can pass on (a plain path is a local file store)
TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "databricks")


@dataclass(frozen=True)
class TrackingSpec:
    """The spec's `tracking` block: trackers (never empty), project (None: the spec name), MLflow URI as written
    (None: the default store beside the spec), tags."""

    backends: tuple[str, ...]
    project: str | None = None
    uri: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


#: what ranks a sweep's trials: eval-set scores (maximised) and the trainer's eval_loss (minimised)
SWEEP_METRICS = ("eval.exact_match", "eval.contains", "eval.token_f1", "eval.rouge_l", "eval_loss")


@dataclass(frozen=True)
class SweepSpec:
    """The `sweep:` block: overrides.<key> -> values to try, how trials are chosen, what ranks them."""

    parameters: tuple[tuple[str, tuple[Any, ...]], ...]
    metric: str
    method: str = "grid"
    max_trials: int = 8

    @property
    def maximise(self) -> bool:
        return self.metric.startswith("eval.")

    @property
    def grid_size(self) -> int:
        return math.prod(len(values) for _, values in self.parameters)


@dataclass(frozen=True)
class Spec:
    """A validated requirements spec. `file` is how errors name it; `base_dir` anchors relative paths."""

    name: str
    base_model: str
    data: DataSpec
    model_config: str | None = None  # a local config.json standing in for base_model's on the hub
    task: str = "sft"
    eval: EvalSpec | None = None
    hardware: Hardware = field(default_factory=Hardware)
    budget: Budget = field(default_factory=Budget)
    cluster: Cluster = field(default_factory=Cluster)
    goals: Goals = field(default_factory=Goals)
    framework: str = "auto"
    method: str = "auto"
    sequence_len: int | None = None
    seed: int = 42
    trust_remote_code: bool = False
    allow_imports: tuple[str, ...] = ()  # module prefixes framework_overrides may make the framework import
    overrides: Mapping[str, Any] = field(default_factory=dict)
    framework_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    rl: RLSpec | None = None
    tracking: TrackingSpec | None = None  # None: no tracker (absent, or backend none)
    sweep: SweepSpec | None = None
    file: str = "<spec>"
    base_dir: Path = Path(".")
    sha256: str = ""
    root: Path | None = None  # the folder `file` (and a build's out_root) is relative to; None: the working folder
    lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        return line_of(self.lines, key)

    def located(self, path: Path | str) -> Path:
        """A path named relative to the spec's root (as `file` is: its lock, a build's out_root) as this process
        reads it: under `root` when one was given, else as it is (the working folder)."""
        return Path(path) if self.root is None else self.root / path


# A spec is a few KB; anything near these limits is a mistake or an attack, refused before parsing it.
MAX_SPEC_BYTES = 1024 * 1024
#: hardware keys that state a custom card's capabilities (facts.gpus.CUSTOM_KEYS; only with hardware.vram_gb)
CUSTOM_GPU_KEYS = ("bf16", "fp8", "flash_attention", "tflops_bf16")
MAX_SPEC_NODES = 20_000
_INT_LIMIT = 2**63  # integers a framework's own parser (and JSON) can hold


def _pattern(validator, pattern: str, instance: Any, schema: dict):
    """`pattern` with the meaning of ECMA-262's `$` (end of text): Python's `$` also matches before a final newline,
    which would let a name like "x\\n" through."""
    from jsonschema import ValidationError

    if not validator.is_type(instance, "string"):
        return
    strict = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    if re.search(strict, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _names() -> tuple[str, ...]:
    from . import frameworks

    return frameworks.names()


def _validator():
    """jsonschema's validator of the spec schema (imported only to word the errors of an invalid spec)."""
    return _validator_for(_names())


@cache
def _validator_for(names: tuple[str, ...]):
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": _pattern})(_schema_for(names))


@cache
def _schema_for(names: tuple[str, ...]) -> dict:
    """The spec schema with the registry's frameworks in `framework` and `framework_overrides` (the file lists the
    built-in ones for readers and editors; a registered framework joins them here)."""
    from . import frameworks

    schema = load_json_file(schemas_dir() / "spec.schema.json")
    props = schema["properties"]
    props["framework"]["enum"] = ["auto", *names, "both"]
    overrides = props["framework_overrides"]["properties"]
    for name in names:
        overrides.setdefault(name, {"description": f"{frameworks.label(name)} config keys.", "type": "object"})
    for name in [n for n in overrides if n not in names]:
        del overrides[name]
    return schema


def schema() -> dict:
    """The spec's JSON Schema."""
    return _schema_for(_names())


def _schema_problems(data: dict, file: str, where) -> list[Problem]:
    if quick_valid(schema(), data, strict_pattern=True):
        return []  # a valid spec never imports jsonschema
    return [_with_key_hint(p) for p in schema_problems(_validator(), data, file, where)]


# keys people write for a spec key of another name: an unknown one of these names the key it means
KEY_HINTS = {
    "hardware": {
        **dict.fromkeys(("gpus", "count", "gpu_count", "num_gpus", "n_gpus", "gpus_per_host"), "gpus_per_node"),
        **dict.fromkeys(("num_nodes", "node_count", "n_nodes", "hosts"), "nodes"),
        **dict.fromkeys(("vram", "memory_gb", "gpu_memory_gb", "memory"), "vram_gb"),
        **dict.fromkeys(("price", "usd_hour", "cost_per_hour"), "usd_per_hour"),
    },
    "": {"model": "base_model", "dataset": "data", "datasets": "data", "gpu": "hardware"},
}


def _with_key_hint(p: Problem) -> Problem:
    if p.message != "unknown key":
        return p
    parent, _, name = p.key.rpartition(".")
    meant = KEY_HINTS.get(parent, {}).get(name)
    if meant is None:
        return p
    return replace(p, allowed=f"did you mean {f'{parent}.' if parent else ''}{meant}?")


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-.]", "", text).lower()


_GPU_COUNT = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\S.*)$", re.IGNORECASE)


def canonical_spellings(data: Any, schema_node: dict) -> Any:
    """The spec with values typed the way people type them written the way the schema spells them: an enum value
    in another case or with other separators (`framework: LLaMA-Factory`, `method: QLoRA`, `task: SFT`, `format:
    ShareGPT`) becomes the one enum value it folds to, and a GPU named with its count (`gpu: 4x A100 80GB`) becomes
    `gpu: A100 80GB` with `gpus_per_node: 4` (a different gpus_per_node beside it is left for the error). A value
    that folds to no enum value, or to several, is left as written, for the schema's error. A new object is
    returned; `data` is not changed."""
    out = _canonical(data, schema_node)
    hw = out.get("hardware") if isinstance(out, dict) else None
    if isinstance(hw, dict) and isinstance(hw.get("gpu"), str):
        m = _GPU_COUNT.match(hw["gpu"])
        if m and hw.get("gpus_per_node", int(m.group(1))) == int(m.group(1)):
            out["hardware"] = {**hw, "gpu": m.group(2).strip(), "gpus_per_node": int(m.group(1))}
    return out


def _canonical(value: Any, node: Any) -> Any:
    if not isinstance(node, dict):
        return value
    if isinstance(value, str) and isinstance(node.get("enum"), list) and value not in node["enum"]:
        folded = [e for e in node["enum"] if isinstance(e, str) and _fold(e) == _fold(value)]
        return folded[0] if len(folded) == 1 else value
    for branch in node.get("anyOf", ()):
        changed = _canonical(value, branch)
        if changed is not value:
            return changed
    if isinstance(value, dict) and isinstance(node.get("properties"), dict):
        props = node["properties"]
        return {k: _canonical(v, props.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_canonical(v, node["items"]) for v in value]
    return value


def _semantic_problems(data: dict, file: str, line_of) -> list[Problem]:
    """Checks JSON Schema cannot express clearly."""
    out = []
    hw = data.get("hardware") or {}
    counted = _GPU_COUNT.match(hw["gpu"]) if isinstance(hw.get("gpu"), str) else None
    if counted:  # canonical_spellings left it: the count in the name and gpus_per_node disagree
        out.append(
            Problem(
                file,
                "hardware.gpu",
                f"the GPU name says {counted.group(1)} GPUs, hardware.gpus_per_node says {hw.get('gpus_per_node')}",
                found=hw["gpu"],
                allowed=f"one count: gpu: {counted.group(2).strip()} with gpus_per_node: N",
                line=line_of("hardware.gpu"),
            )
        )
    if "gpu" in hw and "vram_gb" in hw:
        out.append(
            Problem(
                file,
                "hardware.vram_gb",
                "give either gpu or vram_gb, not both",
                found=hw["vram_gb"],
                allowed="remove one of hardware.gpu / hardware.vram_gb",
                line=line_of("hardware.vram_gb"),
            )
        )
    for name in CUSTOM_GPU_KEYS:
        if name in hw and "vram_gb" not in hw:
            out.append(
                Problem(
                    file,
                    f"hardware.{name}",
                    "describes a GPU that is not in the catalog: give it with hardware.vram_gb"
                    + (" (the catalog knows the capabilities of hardware.gpu)" if "gpu" in hw else ""),
                    found=hw[name],
                    allowed="remove it, or replace hardware.gpu by hardware.vram_gb",
                    line=line_of(f"hardware.{name}"),
                )
            )
    for i, line in enumerate((data.get("cluster") or {}).get("sbatch") or ()):
        option = line[2:].split("=", 1)[0]
        if option in SBATCH_OWN:
            out.append(
                Problem(
                    file,
                    f"cluster.sbatch[{i}]",
                    "slurm.sbatch writes this option itself",
                    found=line,
                    allowed="cluster.partition / account / time / signal_seconds, hardware.nodes / gpus_per_node, "
                    "or another option",
                    line=line_of(f"cluster.sbatch[{i}]"),
                )
            )
    task = data.get("task", "sft")
    if task == "grpo" and not (data.get("rl") or {}).get("reward_funcs"):
        out.append(
            Problem(
                file,
                "rl.reward_funcs",
                "task grpo needs at least one reward function",
                allowed="a list of module.function names, e.g. [rewards.exact_match]",
                line=line_of("task"),
            )
        )
    if data.get("rl") is not None and task != "grpo":
        out.append(
            Problem(
                file,
                "rl",
                "rl settings are only used with task grpo",
                found=task,
                allowed="task: grpo, or remove rl",
                line=line_of("rl"),
            )
        )
    for fw, keys in (data.get("framework_overrides") or {}).items():
        for k, v in (keys or {}).items():
            key = f"framework_overrides.{fw}.{k}"
            if k == "trust_remote_code" and v and data.get("trust_remote_code") is not True:
                out.append(
                    Problem(
                        file,
                        key,
                        "remote code is allowed only by the spec's own flag",
                        found=v,
                        allowed="trust_remote_code: true at the top of the spec (review flags it), and no override",
                        line=line_of(key),
                    )
                )
            # keys that hold credentials (hf_hub_token, hub_token, swanlab_api_key, *_secret): generator._secrets
            if is_secret_name(k) and isinstance(v, (str, int, float)) and not isinstance(v, bool) and v != "":
                out.append(
                    Problem(
                        file,
                        key,
                        "a secret here would be written into the config (and into git)",
                        found="***",
                        allowed="leave it out and set it in the environment (HF_TOKEN, "
                        "WANDB_API_KEY, ...): `ftgen run` passes that on",
                        line=line_of(key),
                    )
                )
    out += _tracking_problems(data.get("tracking"), file, line_of)
    out += _sweep_problems(data, file, line_of)
    fmt_for_task = {
        "dpo": {"preference"},
        "orpo": {"preference"},
        "kto": {"kto"},
        "pretrain": {"text"},
        "sft": {"alpaca", "sharegpt", "messages"},
        "grpo": {"alpaca", "messages", "sharegpt"},
    }
    allowed = fmt_for_task.get(task)
    for i, entry in enumerate((data.get("data") or {}).get("train") or []):
        if (
            isinstance(entry, dict)
            and allowed
            and entry.get("format") in {"alpaca", "sharegpt", "messages", "preference", "kto", "text"}
            and entry["format"] not in allowed
        ):
            key = f"data.train[{i}].format"
            out.append(
                Problem(
                    file,
                    key,
                    f"format does not suit task {task}",
                    found=entry["format"],
                    allowed=", ".join(sorted(allowed)),
                    line=line_of(key),
                )
            )
    return out


def _tracking_problems(block: Any, file: str, line_of) -> list[Problem]:
    """tracking: a uri only for mlflow, no credentials in the uri or the tags, a scheme MLflow reads."""
    if not isinstance(block, dict):
        return []
    out = []
    backends = tracking_backends(block.get("backend"))
    uri = block.get("uri")
    if uri is not None and backends and "mlflow" not in backends:  # backend none: switched off, kept
        out.append(
            Problem(
                file,
                "tracking.uri",
                "only MLflow reads a tracking URI",
                found=uri,
                allowed="backend: mlflow (or a list with mlflow), or remove tracking.uri",
                line=line_of("tracking.uri"),
            )
        )
    elif isinstance(uri, str):
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", uri)
        name = scheme.group(1).lower() if scheme and len(scheme.group(1)) > 1 else ""  # C:\ is a path
        if name and name not in TRACKING_SCHEMES:
            out.append(
                Problem(
                    file,
                    "tracking.uri",
                    "not a tracking URI MLflow reads",
                    found=uri,
                    allowed="sqlite:///<file>, file:<folder>, a folder, http(s)://<server>, databricks",
                    line=line_of("tracking.uri"),
                )
            )
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*@", uri) or re.search(
            r"[?&][^=]*(token|key|secret|passw)", uri, re.I
        ):
            out.append(
                Problem(
                    file,
                    "tracking.uri",
                    "a credential here would be written into the configs (and into git)",
                    found="***",
                    allowed="the URI without user, password or token; set MLFLOW_TRACKING_TOKEN (or "
                    "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) in the environment: `ftgen run` passes it on",
                    line=line_of("tracking.uri"),
                )
            )
    for name, value in (block.get("tags") or {}).items():
        key = f"tracking.tags.{name}"
        if is_secret_name(name) or (isinstance(value, str) and mask_text(value) != value):
            out.append(
                Problem(
                    file,
                    key,
                    "a secret in a tag would be written into the tracker and the build (and into git)",
                    found="***",
                    allowed="a tag that holds no credential",
                    line=line_of(key),
                )
            )
    return out


def _sweep_problems(data: dict, file: str, line_of) -> list[Problem]:
    """sweep: parameters are overrides.<key> with values that key allows, no repeats, a grid within max_trials
    (unless random), an eval-set metric only with an eval set."""
    block = data.get("sweep")
    if not isinstance(block, dict):
        return []
    out = []
    overrides = schema()["properties"]["overrides"]["properties"]
    for name, values in (block.get("parameters") or {}).items():
        key = f"sweep.parameters.{name}"
        field_name = name[len("overrides.") :] if name.startswith("overrides.") else None
        if field_name not in overrides:
            out.append(
                Problem(
                    file,
                    key,
                    "a sweep varies overrides only",
                    found=name,
                    allowed=", ".join(f"overrides.{k}" for k in overrides),
                    line=line_of(key),
                )
            )
            continue
        node = overrides[field_name]
        seen: list[Any] = []
        for i, value in enumerate(values):
            where = f"{key}[{i}]"
            if not _allows(node, value):
                allowed = node.get("description", "")
                if "enum" in node:
                    allowed = ", ".join(map(str, node["enum"]))
                elif node.get("type"):
                    bounds = [
                        f"{w} {node[k]}"
                        for k, w in (
                            ("minimum", ">="),
                            ("exclusiveMinimum", ">"),
                            ("maximum", "<="),
                            ("exclusiveMaximum", "<"),
                        )
                        if k in node
                    ]
                    allowed = f"a {node['type']}" + (f" {' and '.join(bounds)}" if bounds else "")
                out.append(
                    Problem(
                        file,
                        where,
                        f"not a value overrides.{field_name} allows",
                        found=value,
                        allowed=allowed,
                        line=line_of(where),
                    )
                )
            elif any(value == s and type(value) is type(s) for s in seen):
                out.append(
                    Problem(
                        file,
                        where,
                        "this value is already in the list (one trial per value)",
                        found=value,
                        allowed="each value once",
                        line=line_of(where),
                    )
                )
            seen.append(value)
    metric = block.get("metric")
    if isinstance(metric, str) and metric.startswith("eval.") and not data.get("eval"):
        out.append(
            Problem(
                file,
                "sweep.metric",
                "an eval-set score needs the spec's eval set",
                found=metric,
                allowed="add eval: {path: ...}, or metric: eval_loss",
                line=line_of("sweep.metric"),
            )
        )
    size = math.prod(len(v) for v in (block.get("parameters") or {}).values())
    max_trials = block.get("max_trials", 8)
    if block.get("method", "grid") == "grid" and size > max_trials:
        out.append(
            Problem(
                file,
                "sweep.max_trials",
                f"the grid has {size} trials, more than max_trials",
                found=max_trials,
                allowed=f"max_trials: {size} or more, fewer values, or method: random (draws {max_trials} of them)",
                line=line_of("sweep.max_trials") or line_of("sweep"),
            )
        )
    return out


def _allows(node: dict, value: Any) -> bool:
    """Whether a value is one an overrides.<key> schema node allows (the ECMA `$` of patterns, as the spec's)."""
    from ._fastschema import Unsupported, is_valid

    try:
        return is_valid(node, value, strict_pattern=True)
    except Unsupported:
        from jsonschema import Draft202012Validator, validators

        return validators.extend(Draft202012Validator, {"pattern": _pattern})(node).is_valid(value)


def _sweep(block: Any) -> SweepSpec | None:
    if not isinstance(block, dict):
        return None
    params = tuple((str(k), tuple(v)) for k, v in block["parameters"].items())
    return SweepSpec(params, block["metric"], block.get("method", "grid"), block.get("max_trials", 8))


def tracking_backends(value: Any) -> tuple[str, ...]:
    """The trackers a `tracking.backend` value names (none -> ()), in the order given."""
    if value is None or value == "none":
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _tracking(block: Any) -> TrackingSpec | None:
    if not isinstance(block, dict) or not tracking_backends(block.get("backend")):
        return None
    tags = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (block.get("tags") or {}).items()}
    return TrackingSpec(tracking_backends(block.get("backend")), block.get("project"), block.get("uri"), tags)


def _value_problems(data: Any, file: str, line_of) -> list[Problem]:
    """What no schema can say: mapping keys are strings, numbers are finite and fit in 64 bits, text is Unicode,
    values are plain data (no dates, bytes or sets that a config cannot hold), no value contains itself."""
    out: list[Problem] = []
    stack: list[tuple[str, Any, bool]] = [("", data, False)]
    on_path: set[int] = set()  # containers being walked (a value met again among its own items is a cycle)
    seen: set[int] = set()  # containers already walked (aliases share them; check each once)
    while stack:
        key, value, leaving = stack.pop()
        if leaving:
            on_path.discard(id(value))
            continue
        if isinstance(value, (dict, list, tuple)):
            if id(value) in on_path:
                out.append(Problem(file, key, "value contains itself", allowed="plain, finite data", line=line_of(key)))
                continue
            if id(value) in seen:
                continue
            seen.add(id(value))
            on_path.add(id(value))
            stack.append((key, value, True))
            if isinstance(value, dict):
                for k, v in value.items():
                    child = join_key(key, str(k))
                    if not isinstance(k, str):
                        out.append(
                            Problem(
                                file,
                                child,
                                "mapping key must be a string",
                                found=k,
                                allowed="a key name",
                                line=line_of(key),
                            )
                        )
                    elif not _is_unicode(k):
                        out.append(
                            Problem(
                                file,
                                child,
                                "key is not valid Unicode text (a lone surrogate escape)",
                                found=k,
                                allowed="UTF-8 text",
                                line=line_of(key),
                            )
                        )
                    else:
                        stack.append((child, v, False))
            else:
                stack.extend((join_key(key, i), v, False) for i, v in enumerate(value))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -_INT_LIMIT <= value < _INT_LIMIT:
                out.append(
                    Problem(
                        file,
                        key,
                        "integer is too large",
                        found=value,
                        allowed="a whole number between -2**63 and 2**63-1",
                        line=line_of(key),
                    )
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                out.append(
                    Problem(
                        file, key, "number is not finite", found=value, allowed="a finite number", line=line_of(key)
                    )
                )
        elif isinstance(value, str):
            if not _is_unicode(value):
                out.append(
                    Problem(
                        file,
                        key,
                        "text is not valid Unicode (a lone surrogate escape)",
                        found=value,
                        allowed="UTF-8 text",
                        line=line_of(key),
                    )
                )
        else:
            out.append(
                Problem(
                    file,
                    key,
                    "value cannot be written to a config",
                    found=value,
                    allowed="a string, number, true/false, null, list or mapping (quote dates and times)",
                    line=line_of(key),
                )
            )
    return out


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _under(key: str, parent: str) -> bool:
    return key == parent or key.startswith((parent + ".", parent + "["))


def _tuple(v):
    return tuple(v) if v is not None else ()


def from_dict(
    data: Any,
    file: str = "<spec>",
    base_dir: Path = Path("."),
    lines: Mapping[str, int] | None = None,
    sha256: str = "",
    root: Path | None = None,
) -> Spec:
    """Validate a parsed spec and build a Spec; raise FtgenError listing every problem."""
    lines = dict(lines or {})

    def where(key: str) -> int | None:
        return line_of(lines, key)

    if not isinstance(data, dict):
        raise FtgenError(
            [
                Problem(
                    file,
                    "",
                    "a spec must be a YAML mapping",
                    found=type(data).__name__,
                    allowed="keys name, base_model, data, ...",
                )
            ]
        )
    data = canonical_spellings(data, schema())
    problems = _value_problems(data, file, where)
    if problems:  # the schema's verdict on the same keys would only repeat these, less clearly
        bad = [p.key for p in problems]
        problems += [p for p in _schema_problems(data, file, where) if not any(_under(p.key, b) for b in bad)]
        problems.sort(key=lambda p: p.key)
    else:
        problems = _schema_problems(data, file, where)
    if not problems:
        from ._imports import override_problems, reward_problems

        problems = _semantic_problems(data, file, where)
        problems += override_problems(data, file, where)
        problems += reward_problems(data, file, where, Path(base_dir))
    if problems:
        raise FtgenError(problems)
    d = data.get("data", {})
    ev = data.get("eval")
    hw = data.get("hardware") or {}
    rl = data.get("rl")
    return Spec(
        name=data["name"],
        base_model=data["base_model"],
        model_config=data.get("model_config"),
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
        hardware=Hardware(
            hw.get("gpu"),
            hw.get("vram_gb"),
            hw.get("gpus_per_node", 1),
            hw.get("nodes", 1),
            {k: hw[k] for k in CUSTOM_GPU_KEYS if k in hw},
            hw.get("usd_per_hour"),
        ),
        budget=Budget(**(data.get("budget") or {})),
        cluster=Cluster(
            **dict(data.get("cluster") or {}, sbatch=tuple((data.get("cluster") or {}).get("sbatch") or ()))
        ),
        goals=Goals(**(data.get("goals") or {})),
        framework=data.get("framework", "auto"),
        method=data.get("method", "auto"),
        sequence_len=data.get("sequence_len"),
        seed=data.get("seed", 42),
        trust_remote_code=data.get("trust_remote_code", False),
        allow_imports=tuple(data.get("allow_imports") or ()),
        overrides=dict(data.get("overrides") or {}),
        framework_overrides={k: dict(v) for k, v in (data.get("framework_overrides") or {}).items()},
        rl=RLSpec(_tuple(rl.get("reward_funcs")), rl.get("num_generations", 8), rl.get("max_completion_length", 256))
        if rl is not None
        else None,
        tracking=_tracking(data.get("tracking")),
        sweep=_sweep(data.get("sweep")),
        file=file,
        base_dir=base_dir,
        sha256=sha256,
        lines=lines,
        root=root,
    )


def load(path: Path | str, root: Path | str | None = None) -> Spec:
    """Read, parse and validate a spec file.

    `path` is how errors, plans and reports name the spec; relative, it is read from `root` (None: the working
    folder), and so are the spec's lock and a build's out_root (Spec.root): no chdir is needed to load a spec of
    another tree (ftgen review) with the names it has there."""
    path = Path(path)
    file = str(path)
    root = Path(root) if root is not None else None
    real = root / path if root is not None else path
    text, raw = read_text(real, file, MAX_SPEC_BYTES, kind="spec ")
    loaded = load_text(text, file, max_bytes=MAX_SPEC_BYTES, max_nodes=MAX_SPEC_NODES)
    sha = hashlib.sha256(raw).hexdigest()
    return from_dict(loaded.data, file, real.resolve().parent, loaded.lines, sha, root=root)
