"""Frozen fact records: a model card, a GPU, dataset statistics and the Facts bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelCard:
    """Architecture facts about one base model, enough for memory and config decisions."""

    id: str  # hub id, or the local directory
    family: str  # llama, qwen2, qwen3, mistral, gemma2, gemma3, phi3, olmo2, internlm3, ...
    model_type: str  # config.json model_type
    params_b: float  # total parameters, billions
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    max_context: int
    tie_embeddings: bool = False
    head_dim: int | None = None  # when not hidden // heads
    kind: str = "base"  # base | instruct
    # MoE: experts per layer and experts active per token (None for dense models)
    num_experts: int | None = None
    experts_per_token: int | None = None
    moe_intermediate: int | None = None
    # chat/prompt template names per framework
    axolotl_chat_template: str = "tokenizer_default"
    llamafactory_template: str = "default"
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    trust_remote_code: bool = False
    gated: bool = False
    local_dir: str | None = None  # set when read from a local config.json
    # where the facts came from: catalog | local (a model directory) | model_config (the spec's stand-in
    # config.json for a hub id) | lock (the spec's lock file, first filled from the HF cache or the hub)
    source: str = "catalog"
    mlp_gated: bool = True  # False: a two-matrix MLP (up, down) as in phi, falcon, gpt_neox
    vision_params_b: float = 0.0  # an image-text checkpoint's vision tower and projector, included in params_b
    revision: str | None = None  # the hub commit the facts were read at (source lock)
    lock_file: str | None = None  # the lock file's name, beside the spec (source lock)
    locked_from: str | None = None  # where the lock's entry was first read: cache | hub (source lock)
    notes: tuple[str, ...] = ()  # caveats about the facts (e.g. an architecture ftgen has no row for)

    @property
    def chat(self) -> bool:
        """Whether the model formats prompts with a chat template: an instruct / chat model, or a local or locked
        hub model whose tokenizer ships one (axolotl_chat_template is then tokenizer_default)."""
        shipped = self.source in ("local", "lock") and self.axolotl_chat_template == "tokenizer_default"
        return self.kind == "instruct" or shipped

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.hidden // self.heads


@dataclass(frozen=True)
class GPU:
    """One accelerator kind from the GPU catalog (or a custom one known by its memory)."""

    name: str
    vram_gb: float
    bf16: bool
    fp8: bool
    flash_attention: bool
    usd_per_hour: float  # 0 when no price is known (then no cost is estimated)
    tflops_bf16: float  # dense bf16/fp16 tensor TFLOP/s (fp32 for CPU)
    aliases: tuple[str, ...] = ()
    is_cpu: bool = False
    arch: str = ""  # volta, turing, ampere, ada, hopper, blackwell, cdna2, cdna3, cpu; "" when not known
    price_source: str = ""  # who stated usd_per_hour, for which product
    price_date: str = ""  # when that source stated it
    note: str = ""
    unsupported: str = ""  # why ftgen cannot plan for this card; "" when it can
    assumed: tuple[str, ...] = ()  # capabilities of a custom GPU that were defaulted, not stated in the spec


@dataclass(frozen=True)
class DatasetStats:
    """What was learned about the training data: counts, tokens, formats."""

    examples: int
    avg_tokens: float
    max_tokens: int | None
    formats: tuple[str, ...]
    local_files: tuple[str, ...] = ()
    measured: bool = False  # True when counted from local files
    multi_turn_fraction: float = 0.0
    p95_tokens: int | None = None
    unique_examples: int | None = None  # rows left after dropping exact duplicates; None when not counted
    # normalised eval prompts that a training row also has (facts.resolve turns them into EvalStats.in_train)
    eval_prompts_seen: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class EvalStats:
    """The team's eval set, when the spec names one."""

    path: str
    rows: int
    sha256: str
    # eval rows whose prompt (normalised: Unicode NFKC, case, whitespace) is also a prompt in the training
    # data; None when the training data could not be read (a hub dataset)
    in_train: int | None = None
    in_train_rows: tuple[str, ...] = ()  # where the first of them are ("line 4", "id q17")
    # normalised prompt -> where it is in the eval set; only used to count in_train
    prompts: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Facts:
    """Everything the rules read besides the spec."""

    model: ModelCard
    gpu: GPU
    data: DatasetStats
    eval: EvalStats | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    lock: Any = None  # facts.lock.LockWrite: the spec's lock file as a build leaves it (hub models only)
