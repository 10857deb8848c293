"""The Plan: framework-neutral decisions, each with its value, rule, source and reason; typed keys and records.

Every plan key is declared once, in `Settings`: its type, the rule that decides it and what it means. Closed
choices are enums whose values are the strings plan.json has always held, so plan.json stays plain JSON and
older plan.json files read back (`Plan.from_dict`).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .errors import Problem

# ---------------------------------------------------------------------------------------------- closed choices


class Choice(str, enum.Enum):
    """A closed choice whose value is its plan.json spelling (compares equal to that string)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __hash__(self) -> int:  # as the plain string: a member and its spelling are the same dict key
        return str.__hash__(self)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


class Task(Choice):
    SFT = "sft"
    PRETRAIN = "pretrain"
    DPO = "dpo"
    KTO = "kto"
    ORPO = "orpo"
    GRPO = "grpo"

    @property
    def preference(self) -> bool:
        """A preference stage (pairs or labels of completions, no reward model)."""
        return self in (Task.DPO, Task.KTO, Task.ORPO)

    @property
    def packs(self) -> bool:
        """Stages whose trainer can pack several examples into one sequence."""
        return self in (Task.SFT, Task.PRETRAIN)


class Method(Choice):
    QLORA = "qlora"
    LORA = "lora"
    FULL = "full"

    @property
    def adapter(self) -> bool:
        return self is not Method.FULL


class Precision(Choice):
    BF16 = "bf16"
    FP16 = "fp16"
    FP32 = "fp32"


class Distributed(Choice):
    """How the model is spread over processes. `single` and `ddp` keep a full replica per process (no sharding)."""

    SINGLE = "single"
    DDP = "ddp"
    ZERO1 = "zero1"
    ZERO2 = "zero2"
    ZERO3 = "zero3"
    ZERO3_OFFLOAD = "zero3_offload"
    FSDP = "fsdp"

    @property
    def sharded(self) -> bool:
        return self not in (Distributed.SINGLE, Distributed.DDP)

    @property
    def deepspeed(self) -> bool:
        return self in (Distributed.ZERO1, Distributed.ZERO2, Distributed.ZERO3, Distributed.ZERO3_OFFLOAD)

    @property
    def deepspeed_file(self) -> str | None:
        """The DeepSpeed config file `ftgen build` writes for this strategy (None: no DeepSpeed)."""
        return f"deepspeed_{self.value}.json" if self.deepspeed else None


UNSHARDED = (Distributed.SINGLE.value, Distributed.DDP.value)


class Attention(Choice):
    FLASH_ATTENTION_2 = "flash_attention_2"
    SDPA = "sdpa"
    EAGER = "eager"


class Scheduler(Choice):
    COSINE = "cosine"
    LINEAR = "linear"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"


class EvalStrategy(Choice):
    STEPS = "steps"
    NO = "no"


# ---------------------------------------------------------------------------------------------- the plan keys


def _key(rule: str, doc: str, also: tuple[str, ...] = (), config: bool = True) -> Any:
    """A plan key decided by `rule`; `also` lists rules that may change it afterwards (a downgrade); config False
    for a key that informs the other decisions but no config says (the number of examples, the global batch)."""
    return field(default=None, metadata={"rule": rule, "doc": doc, "also": also, "config": config})


@dataclass(frozen=True)
class Settings:
    """Every plan key with its type; None where the plan did not decide it. The metadata names the rule that
    decides the key (others may change it later: the decision says which) and what it means."""

    # the stage, the data and the model
    task: Task = _key("FT100", "training stage")
    examples: int = _key("FT101", "training examples", config=False)
    base_model: str = _key("FT105", "the base model: a hub id, or a local folder relative to the spec")
    model_revision: str = _key("FT105", "the hub commit of the base model the lock file pins")
    datasets: list = _key("FT105", "training datasets: path (local paths relative to the spec), source, format")
    chat_template: dict = _key("FT107", "the prompt template, as each framework names it")
    trust_remote_code: bool = _key("FT171", "run the model repository's own code")
    # hardware
    precision: Precision = _key("FT110", "mixed precision")
    tf32: bool = _key("FT110", "TF32 matmuls on Ampere+ GPUs")
    use_cpu: bool = _key("FT110", "train on the CPU")
    lora_kernels: bool = _key("FT110", "the frameworks' fused LoRA kernels (CUDA/Triton only)")
    attn_implementation: Attention = _key("FT111", "attention kernel")
    sequence_len: int = _key("FT120", "longest sequence in tokens")
    packing: bool = _key("FT121", "pack several examples into one sequence")
    distributed: Distributed = _key("FT131", "multi-GPU strategy")
    # method
    method: Method = _key("FT102", "qlora, lora or full", also=("FT103", "FT130", "FT160"))
    tree_branch: str = _key(
        "FT102", "the branch of the seed decision tree that applied, and why", also=("FT103",), config=False
    )
    frameworks: list = _key("FT104", "which framework configs are written", config=False)
    alternatives: list = _key(
        "FT179", "the other methods: whether each fits, its memory, time and cost (PLAN.md's summary)", config=False
    )
    lora_r: int = _key("FT140", "LoRA rank")
    lora_alpha: int = _key("FT140", "LoRA alpha")
    lora_dropout: float = _key("FT140", "LoRA dropout")
    lora_target_modules: list = _key("FT140", "modules that get adapters")
    # optimisation
    optimizer: str = _key("FT141", "optimizer (transformers OptimizerNames)")
    learning_rate: float = _key("FT142", "peak learning rate")
    num_epochs: float = _key("FT143", "passes over the data")
    lr_scheduler: Scheduler = _key("FT144", "learning-rate schedule")
    warmup_ratio: float = _key("FT144", "fraction of steps warming up")
    warmup_steps: int = _key("FT178", "warmup as a whole number of optimizer steps (the ratio of the planned steps)")
    weight_decay: float = _key("FT144", "weight decay")
    global_batch_size: int = _key(
        "FT145", "sequences per optimizer step (micro batch x accumulation x GPUs)", also=("FT192",), config=False
    )
    gradient_checkpointing: bool = _key("FT145", "recompute activations in backward", also=("FT191",))
    micro_batch_size: int = _key("FT145", "sequences per GPU per training forward", also=("FT191",))
    gradient_accumulation_steps: int = _key("FT145", "micro batches per optimizer step", also=("FT191", "FT192"))
    eval_batch_size: int = _key("FT145", "sequences per GPU per evaluation forward", also=("FT191", "FT192"))
    # stages
    pref_beta: float = _key("FT146", "preference-loss beta")
    pref_loss: str = _key("FT146", "preference loss")
    reward_funcs: list = _key("FT146", "GRPO reward functions")
    num_generations: int = _key("FT146", "GRPO completions per prompt")
    max_completion_length: int = _key("FT146", "GRPO completion length")
    use_vllm: bool = _key("FT176", "GRPO generation through vLLM instead of the training model's generate")
    liger_kernel: bool = _key("FT177", "Liger kernels, with the fused linear cross-entropy that never holds the logits")
    grpo_transform: str = _key("FT193", "GRPO: the shipped function that turns a dataset row into a prompt")
    pref_transform: str = _key("FT195", "DPO/ORPO/KTO: the shipped function that formats a preference row's prompt")
    reward_files: list = _key("FT194", "GRPO: reward module files copied beside the config (relative to the spec)")
    # evaluation and checkpoints
    val_set_size: float = _key("FT150", "fraction of the data held out for eval_loss")
    eval_strategy: EvalStrategy = _key("FT150", "when eval_loss is measured")
    max_steps: int = _key("FT150", "stop after this many optimizer steps")
    total_steps: int = _key("FT150", "optimizer steps in the run (the estimate's; max_steps caps it)", config=False)
    eval_steps: int = _key("FT150", "steps between evaluations")
    save_steps: int = _key("FT150", "steps between checkpoints")
    save_total_limit: int = _key("FT150", "checkpoints kept")
    logging_steps: int = _key("FT150", "steps between log lines")
    plot_loss: bool = _key("FT150", "write a loss-curve image")
    # what every run needs, whichever framework runs it
    output_dir: str = _key("FT106", "where the framework writes; `ftgen run` points it at runs/<run-id>/model")
    overwrite_output_dir: bool = _key("FT106", "write into an output folder that has checkpoints")
    seed: int = _key("FT106", "random seed")
    report_to: Any = _key("FT106", "experiment trackers: none, one name, or a list", also=("FT200",))
    dataset_cache_dir: str = _key("FT106", "tokenised-data cache, relative to the run")
    retokenize: bool = _key("FT106", "tokenise again instead of reading a cache")
    dataset_num_proc: int = _key("FT106", "tokenisation worker processes")
    # experiment tracking (decided only when the spec has a tracking block)
    run_name: str = _key("FT201", "the tracker run's name (`ftgen run` names it after the run id)")
    mlflow_experiment_name: str = _key("FT201", "MLflow experiment the runs are logged under")
    wandb_project: str = _key("FT201", "W&B project the runs are logged under")
    wandb_run_name: str = _key("FT201", "W&B run name")
    tracking_tags: dict = _key("FT201", "tags on the tracker run (set by `ftgen run`)", config=False)
    mlflow_tracking_uri: str = _key("FT202", "MLflow tracking URI; a local path is relative to the spec")

    @classmethod
    def keys(cls) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(cls)}

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return default if value is None else value


@cache
def key_types() -> dict[str, Any]:
    """Plan key -> its declared type (the enum class for closed choices)."""
    hints = typing.get_type_hints(Settings)
    return {name: hints[name] for name in Settings.keys()}


def rule_of(key: str) -> str:
    """The rule that decides a plan key."""
    return Settings.keys()[key].metadata["rule"]


def rules_of(key: str) -> tuple[str, ...]:
    """Every rule that may decide a plan key: the one that decides it, then those that may change it."""
    meta = Settings.keys()[key].metadata
    return (meta["rule"], *meta["also"])


def in_configs(key: str) -> bool:
    """Whether configs carry a plan key (False: it only informs the other decisions)."""
    return Settings.keys()[key].metadata["config"]


def keys_of(rule: str) -> list[str]:
    """The plan keys a rule decides (or may change)."""
    return [name for name in Settings.keys() if rule in rules_of(name)]


def coerce(key: str, value: Any) -> Any:
    """A plan value in its declared type: closed choices become their enum member; KeyError for unknown keys."""
    kind = key_types()[key]
    if value is not None and isinstance(kind, type) and issubclass(kind, Choice) and not isinstance(value, kind):
        try:
            return kind(value)
        except ValueError:
            return value  # an older plan.json may hold a spelling this ftgen no longer has: kept as read
    return value


def plain(value: Any) -> Any:
    """A plan value as plain JSON data (enums by their value, tuples as lists)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Decision:
    """One decided plan field. source is "rule" (a rule chose it) or "spec" (the spec set it)."""

    key: str
    value: Any
    rule: str
    source: str
    because: str

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "value": plain(self.value),
            "rule": self.rule,
            "source": self.source,
            "because": self.because,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Decision:
        key = str(data.get("key", ""))
        value = data.get("value")
        if key in Settings.keys():
            value = coerce(key, value)
        return cls(key, value, str(data.get("rule", "")), str(data.get("source", "rule")), str(data.get("because", "")))


@dataclass(frozen=True)
class MemoryRecord:
    """GPU memory per device the plan expects (GiB), by component, with the estimator's notes."""

    total_gb: float
    components: dict[str, float] = field(default_factory=dict)
    trainable_params: int = 0
    notes: tuple[str, ...] = ()
    unit: str = "GiB"
    #: the estimate's measured error band (memory.ERROR_BANDS) applied to total_gb; None in older plans
    low_gb: float | None = None
    high_gb: float | None = None
    #: share of the GPU the plan may fill (memory.fit_margin); None in older plans
    fit_margin: float | None = None

    def to_dict(self) -> dict:
        out = {
            "unit": self.unit,
            "components": dict(self.components),
            "total_gb": self.total_gb,
            "trainable_params": self.trainable_params,
            "notes": list(self.notes),
        }
        for key in ("low_gb", "high_gb", "fit_margin"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> MemoryRecord | None:
        if not isinstance(data, dict) or data.get("total_gb") is None:
            return None
        return cls(
            total_gb=float(data["total_gb"]),
            components={str(k): float(v) for k, v in (data.get("components") or {}).items()},
            trainable_params=int(data.get("trainable_params") or 0),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            unit=str(data.get("unit") or "GiB"),
            low_gb=None if data.get("low_gb") is None else float(data["low_gb"]),
            high_gb=None if data.get("high_gb") is None else float(data["high_gb"]),
            fit_margin=None if data.get("fit_margin") is None else float(data["fit_margin"]),
        )


@dataclass(frozen=True)
class TimeCostRecord:
    """How long the plan's training takes and what it costs (usd None where the GPU has no price)."""

    hours: float
    usd: float | None = None
    tokens_per_epoch: int = 0
    epochs: float = 0
    total_tokens: int = 0
    steps: int = 0
    tokens_per_second: float = 0.0
    assumptions: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "tokens_per_epoch": self.tokens_per_epoch,
            "epochs": self.epochs,
            "total_tokens": self.total_tokens,
            "steps": self.steps,
            "tokens_per_second": self.tokens_per_second,
            "hours": self.hours,
            "usd": self.usd,
            "assumptions": list(self.assumptions),
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> TimeCostRecord | None:
        if not isinstance(data, dict) or data.get("hours") is None:
            return None
        return cls(
            hours=float(data["hours"]),
            usd=None if data.get("usd") is None else float(data["usd"]),
            tokens_per_epoch=int(data.get("tokens_per_epoch") or 0),
            epochs=data.get("epochs") or 0,
            total_tokens=int(data.get("total_tokens") or 0),
            steps=int(data.get("steps") or 0),
            tokens_per_second=float(data.get("tokens_per_second") or 0.0),
            assumptions=tuple(str(a) for a in data.get("assumptions") or ()),
        )


@dataclass(frozen=True)
class Plan:
    """Everything `build` decided for one spec; render() turns it into framework configs."""

    name: str
    task: Task
    method: Method
    frameworks: tuple[str, ...]
    decisions: tuple[Decision, ...]
    memory: MemoryRecord | None = None
    time_cost: TimeCostRecord | None = None
    findings: tuple[Problem, ...] = ()
    facts: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.decision(key).value

    def get(self, key: str, default: Any = None) -> Any:
        d = self._index().get(key)
        return d.value if d else default

    def __contains__(self, key: str) -> bool:
        return key in self._index()

    def decision(self, key: str) -> Decision:
        try:
            return self._index()[key]
        except KeyError:
            raise KeyError(f"plan has no decision {key!r}") from None

    def _index(self) -> dict[str, Decision]:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {d.key: d for d in self.decisions}
            object.__setattr__(self, "_idx", idx)
        return idx

    @property
    def settings(self) -> Settings:
        """The decided values, typed (None where not decided)."""
        known = Settings.keys()
        return Settings(**{d.key: d.value for d in self.decisions if d.key in known})

    def values(self) -> dict[str, Any]:
        """Plan key -> decided value (what the key tables render)."""
        return {d.key: d.value for d in self.decisions}

    @property
    def warnings(self) -> list[Problem]:
        return [f for f in self.findings if f.severity in ("warning", "info")]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "task": plain(self.task),
            "method": plain(self.method),
            "framework": list(self.frameworks),
            "decisions": [d.to_dict() for d in self.decisions],
            "memory": self.memory.to_dict() if self.memory else {},
            "time_cost": self.time_cost.to_dict() if self.time_cost else {},
            "warnings": [
                {"severity": f.severity, "rule": f.rule, "key": f.key, "message": f.message} for f in self.findings
            ],
            "facts": self.facts,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """A plan read from plan.json, this ftgen's or an older one's (missing parts stay empty)."""
        decisions = tuple(Decision.from_dict(d) for d in data.get("decisions") or () if isinstance(d, dict))
        warnings = tuple(
            Problem(
                "plan.json",
                str(w.get("key", "")),
                str(w.get("message", "")),
                severity=str(w.get("severity", "warning")),
                rule=str(w.get("rule", "")),
            )
            for w in data.get("warnings") or ()
            if isinstance(w, dict)
        )
        frameworks = data.get("framework") or data.get("frameworks") or []
        return cls(
            name=str(data.get("name", "")),
            task=coerce("task", data.get("task", "sft")),
            method=coerce("method", data.get("method", "")),
            frameworks=tuple(frameworks) if isinstance(frameworks, (list, tuple)) else (str(frameworks),),
            decisions=decisions,
            memory=MemoryRecord.from_dict(data.get("memory")),
            time_cost=TimeCostRecord.from_dict(data.get("time_cost")),
            findings=warnings,
            facts=data.get("facts") if isinstance(data.get("facts"), dict) else {},
        )
