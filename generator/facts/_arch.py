"""Architecture table: how each model_type's config.json becomes shapes, a parameter count, LoRA targets, templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------------- transformers' defaults
# The values transformers uses when a config.json leaves a key out (each config class instantiated with no
# arguments: transformers 5.6.0 in the LLaMA-Factory env and 5.16.1 in the Axolotl env agree on every key
# listed here). gemma-3-4b-it's config.json, for one, names only a few text_config keys and relies on them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "intermediate_size": 11008,
        "vocab_size": 32000,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
    },
    "mistral": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 32000,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
    },
    "mixtral": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 32000,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
    },
    "qwen2": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "intermediate_size": 22016,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
    },
    "qwen2_moe": {
        "hidden_size": 2048,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "intermediate_size": 5632,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
        "num_experts": 60,
        "num_experts_per_tok": 4,
        "moe_intermediate_size": 1408,
        "shared_expert_intermediate_size": 5632,
        "qkv_bias": True,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
    },
    "qwen3": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "head_dim": 128,
        "intermediate_size": 22016,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
        "attention_bias": False,
    },
    "qwen3_moe": {
        "hidden_size": 2048,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "intermediate_size": 6144,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "num_experts": 128,
        "num_experts_per_tok": 8,
        "moe_intermediate_size": 768,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
    },
    "gemma": {
        "hidden_size": 3072,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "intermediate_size": 24576,
        "vocab_size": 256000,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
        "attention_bias": False,
    },
    "gemma2": {
        "hidden_size": 2304,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "intermediate_size": 9216,
        "vocab_size": 256000,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
        "attention_bias": False,
    },
    "gemma3_text": {
        "hidden_size": 2304,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "intermediate_size": 9216,
        "vocab_size": 262208,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": True,
        "attention_bias": False,
    },
    "siglip_vision_model": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "image_size": 224,
        "patch_size": 16,
        "num_channels": 3,
        "vision_use_head": True,
    },
    "phi": {
        "hidden_size": 2048,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "intermediate_size": 8192,
        "vocab_size": 51200,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "qk_layernorm": False,
    },
    "phi3": {
        "hidden_size": 3072,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "intermediate_size": 8192,
        "vocab_size": 32064,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
    },
    "olmo2": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "intermediate_size": 11008,
        "vocab_size": 50304,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "attention_bias": False,
    },
    "falcon": {
        "hidden_size": 4544,
        "num_hidden_layers": 32,
        "num_attention_heads": 71,
        "vocab_size": 65024,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "multi_query": True,
        "parallel_attn": True,
        "new_decoder_architecture": False,
        "bias": False,
    },
    "gpt_neox": {
        "hidden_size": 6144,
        "num_hidden_layers": 44,
        "num_attention_heads": 64,
        "intermediate_size": 24576,
        "vocab_size": 50432,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "attention_bias": True,
    },
}

#: config.json keys of the language model ftgen reads (first found wins) -> ModelCard field
SHAPE_KEYS = {
    "hidden": ("hidden_size", "n_embd", "d_model"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "heads": ("num_attention_heads", "n_head"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads"),
    "head_dim": ("head_dim",),
    "intermediate": ("intermediate_size", "n_inner", "ffn_hidden_size"),
    "vocab": ("vocab_size",),
    "max_context": ("max_position_embeddings", "n_positions", "seq_length", "max_sequence_length"),
    "tie": ("tie_word_embeddings",),
    "experts": ("num_experts", "num_local_experts", "n_routed_experts"),
    "top_k": ("num_experts_per_tok", "moe_top_k"),
    "moe_intermediate": ("moe_intermediate_size",),
    "shared_intermediate": ("shared_expert_intermediate_size",),
}

#: every other config.json key an architecture row reads (what a lock keeps, with SHAPE_KEYS and the nested configs)
FLAG_KEYS = (
    "model_type",
    "architectures",
    "auto_map",
    "attention_bias",
    "mlp_bias",
    "qkv_bias",
    "qk_layernorm",
    "bias",
    "multi_query",
    "parallel_attn",
    "new_decoder_architecture",
    "num_ln_in_parallel_attn",
    "decoder_sparse_step",
    "mlp_only_layers",
    "image_size",
    "patch_size",
    "num_channels",
    "vision_use_head",
)
NESTED_KEYS = ("text_config", "vision_config")
CONFIG_KEYS = frozenset({k for keys in SHAPE_KEYS.values() for k in keys} | set(FLAG_KEYS))

LLAMA3_VOCABS = {128256, 128512}
DENSE_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTENTION_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
_FUSED_GPT_TARGETS = ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")

#: model types ftgen refuses, with the reason
REFUSED = {
    "deepseek_v2": "multi-head latent attention (low-rank q/kv projections) and shared + routed experts are outside "
    "ftgen's memory model",
    "deepseek_v3": "multi-head latent attention (low-rank q/kv projections), shared + routed experts and a "
    "multi-token-prediction layer are outside ftgen's memory model",
}
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


class ArchError(ValueError):
    """A config.json ftgen cannot turn into a model card; `key` is the config key at fault ("" for the whole file).

    `all` lists every problem found in the file (this one first), so a caller can report them at once.
    """

    def __init__(self, message: str, key: str = "", found: Any = None, allowed: str | None = None):
        super().__init__(message)
        self.key, self.found, self.allowed = key, found, allowed
        self.all: list[ArchError] = [self]


# ------------------------------------------------------------------------------------------- reading a config


class _Config:
    """One config dict with transformers' defaults for its model_type behind it."""

    def __init__(self, data: dict, model_type: str, prefix: str = "", errors: list | None = None):
        self.data, self.model_type, self.prefix = data, model_type, prefix
        self.defaults = DEFAULTS.get(model_type, {})
        self.errors: list[ArchError] = [] if errors is None else errors  # collected, raised together by parse()

    def raw(self, *names: str) -> tuple[str | None, Any]:
        for name in names:
            if name not in CONFIG_KEYS:  # a key the lock would not keep: a second build would read a default
                raise KeyError(f"{name} is missing from CONFIG_KEYS")
            if self.data.get(name) is not None:
                return name, self.data[name]
        for name in names:
            if name in self.defaults:
                return name, self.defaults[name]
        return None, None

    def flag(self, name: str, default: bool = False) -> bool:
        key, value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.errors.append(ArchError("must be true or false", self.prefix + key, value, "true, false"))
            return default
        return value

    def count(self, *names: str, required: bool = True, default: int | None = None) -> int | None:
        key, value = self.raw(*names)
        if value is None:
            if required and default is None:
                self.errors.append(
                    ArchError("a required field is missing", self.prefix + names[0], None, " or ".join(names))
                )
                return 1  # a stand-in so the other fields are still checked
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.errors.append(
                ArchError("must be a positive whole number", self.prefix + key, value, "an integer >= 1")
            )
            return 1
        return value

    def int_list(self, name: str) -> list[int]:
        key, value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            self.errors.append(
                ArchError("must be a list of layer numbers", self.prefix + (key or name), value, "[0, 3]")
            )
            return []
        return value


@dataclass(frozen=True)
class Dims:
    """The language model's matrix sizes."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_context: int
    tie: bool
    experts: int = 0
    top_k: int = 0
    moe_intermediate: int = 0
    shared_intermediate: int = 0
    moe_layers: tuple[int, ...] = ()  # which layers use experts (all when experts and this is empty)

    @property
    def hq(self) -> int:
        return self.heads * self.head_dim

    @property
    def hkv(self) -> int:
        return self.kv_heads * self.head_dim


@dataclass(frozen=True)
class Layout:
    """What a decoder layer holds besides the shapes: biases, norms, MLP kind, extras."""

    qkv_bias: bool = False
    o_bias: bool = False
    mlp_gated: bool = True  # SwiGLU / GeGLU: gate, up, down; else up and down (fc1, fc2)
    mlp_bias: bool = False
    norms: int = 2  # hidden-wide norms per layer
    norm_bias: bool = False  # LayerNorm (weight + bias) rather than RMSNorm (weight)
    qk_norm: str = ""  # "head": q/k norms over head_dim; "full": over all query / key heads (OLMo 2)
    qk_norm_bias: bool = False
    lm_head_bias: bool = False
    shared_expert_gate: bool = False


def _linear(d_in: int, d_out: int, bias: bool) -> int:
    return d_in * d_out + (d_out if bias else 0)


def _mlp(h: int, i: int, lay: Layout) -> int:
    if lay.mlp_gated:
        return 2 * _linear(h, i, lay.mlp_bias) + _linear(i, h, lay.mlp_bias)
    return _linear(h, i, lay.mlp_bias) + _linear(i, h, lay.mlp_bias)


def decoder_params(d: Dims, lay: Layout) -> int:
    """Parameters of a decoder-only language model: embeddings, layers, final norm, lm_head."""
    norm = 2 if lay.norm_bias else 1
    attn = _linear(d.hidden, d.hq, lay.qkv_bias) + 2 * _linear(d.hidden, d.hkv, lay.qkv_bias)
    attn += _linear(d.hq, d.hidden, lay.o_bias)
    qk_norm_bytes = 2 if lay.qk_norm_bias else 1
    if lay.qk_norm == "head":
        attn += 2 * d.head_dim * qk_norm_bytes
    elif lay.qk_norm == "full":
        attn += (d.hq + d.hkv) * qk_norm_bytes
    dense = _mlp(d.hidden, d.intermediate, lay)
    moe = 0
    if d.experts:
        moe = d.experts * _mlp(d.hidden, d.moe_intermediate, lay) + d.hidden * d.experts  # experts + router
        if d.shared_intermediate:
            moe += _mlp(d.hidden, d.shared_intermediate, lay) + (d.hidden if lay.shared_expert_gate else 0)
    n_moe = (len(d.moe_layers) if d.moe_layers else d.layers) if d.experts else 0
    layers = d.layers * (attn + lay.norms * norm * d.hidden) + n_moe * moe + (d.layers - n_moe) * dense
    embed = d.vocab * d.hidden
    head = (0 if d.tie else d.vocab * d.hidden) + (d.vocab if lay.lm_head_bias else 0)
    return embed + layers + norm * d.hidden + head


def siglip_params(v: _Config) -> int:
    """A SigLIP vision tower (Gemma 3's image encoder): patch and position embeddings, layers, post-norm."""
    hv = v.count("hidden_size")
    iv = v.count("intermediate_size")
    layers = v.count("num_hidden_layers")
    patch, image, channels = v.count("patch_size"), v.count("image_size"), v.count("num_channels")
    per_layer = 4 * _linear(hv, hv, True) + 2 * 2 * hv + _linear(hv, iv, True) + _linear(iv, hv, True)
    total = channels * patch * patch * hv + hv + (image // patch) ** 2 * hv + layers * per_layer + 2 * hv
    if v.flag("vision_use_head"):  # attention-pooling head: probe, MultiheadAttention, norm, MLP
        total += hv + (3 * hv * hv + 3 * hv) + _linear(hv, hv, True) + 2 * hv + _linear(hv, iv, True)
        total += _linear(iv, hv, True)
    return total


# ------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Arch:
    """One row: the family, the layer layout (from the config), the LoRA targets."""

    family: str
    layout: Any  # Layout or a function of the _Config giving one
    lora_targets: tuple[str, ...] = DENSE_TARGETS
    moe: bool = False

    def layout_for(self, c: _Config) -> Layout:
        return self.layout(c) if callable(self.layout) else self.layout


def _llama(c: _Config) -> Layout:
    bias = c.flag("attention_bias")
    return Layout(qkv_bias=bias, o_bias=bias, mlp_bias=c.flag("mlp_bias"))


def _qwen3(c: _Config) -> Layout:
    bias = c.flag("attention_bias")
    return Layout(qkv_bias=bias, o_bias=bias, qk_norm="head")


def _phi(c: _Config) -> Layout:
    qk = c.flag("qk_layernorm")
    return Layout(
        qkv_bias=True,
        o_bias=True,
        mlp_gated=False,
        mlp_bias=True,
        norms=1,
        norm_bias=True,
        qk_norm="head" if qk else "",
        qk_norm_bias=qk,
        lm_head_bias=True,
    )


def _falcon(c: _Config) -> Layout:
    bias = c.flag("bias")
    if c.flag("new_decoder_architecture"):
        norms = c.count("num_ln_in_parallel_attn", required=False, default=2)
    else:
        norms = 1 if c.flag("parallel_attn", True) else 2
    return Layout(qkv_bias=bias, o_bias=bias, mlp_gated=False, mlp_bias=bias, norms=norms, norm_bias=True)


def _gpt_neox(c: _Config) -> Layout:
    bias = c.flag("attention_bias", True)
    return Layout(qkv_bias=bias, o_bias=bias, mlp_gated=False, mlp_bias=True, norm_bias=True)


def _olmo2(c: _Config) -> Layout:
    bias = c.flag("attention_bias")
    return Layout(qkv_bias=bias, o_bias=bias, qk_norm="full")


ARCHS: dict[str, Arch] = {
    "llama": Arch("llama", _llama),
    "mistral": Arch("mistral", Layout()),
    "mixtral": Arch("mistral", Layout(), ATTENTION_TARGETS, moe=True),
    "qwen2": Arch("qwen2", Layout(qkv_bias=True)),
    "qwen2_moe": Arch(
        "qwen2",
        lambda c: Layout(qkv_bias=c.flag("qkv_bias", True), shared_expert_gate=True),
        ATTENTION_TARGETS,
        moe=True,
    ),
    "qwen3": Arch("qwen3", _qwen3),
    "qwen3_moe": Arch("qwen3", _qwen3, ATTENTION_TARGETS, moe=True),
    "gemma": Arch("gemma", Layout()),
    "gemma2": Arch("gemma2", Layout(norms=4)),
    "gemma3_text": Arch("gemma3", Layout(norms=4, qk_norm="head")),
    "phi": Arch("phi", _phi, ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2")),
    "phi3": Arch("phi3", Layout(), ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")),
    "olmo2": Arch("olmo2", _olmo2),
    "falcon": Arch("falcon", _falcon, _FUSED_GPT_TARGETS),
    "gpt_neox": Arch("gpt_neox", _gpt_neox, _FUSED_GPT_TARGETS),
}
SUPPORTED = (*sorted(ARCHS), "gemma3")

#: (axolotl chat_template, llamafactory template) by model_type; the functions below refine them by vocabulary
_TEMPLATES = {
    "qwen2": ("qwen_25", "qwen"),
    "qwen2_moe": ("qwen_25", "qwen"),
    "qwen3": ("qwen3", "qwen3"),
    "qwen3_moe": ("qwen3", "qwen3"),
    "gemma": ("gemma", "gemma"),
    "gemma2": ("gemma", "gemma2"),
    "gemma3": ("gemma3", "gemma3"),
    "gemma3_text": ("gemma3", "gemma2"),  # LLaMA-Factory's gemma3 template carries the image plugin
    "phi3": ("phi_3", "phi"),
    "olmo2": ("chatml", "olmo"),
    "falcon": ("chatml", "falcon"),
    "internlm3": ("chatml", "intern2"),
}
_MISTRAL_AXOLOTL = {32000: "mistral_v1", 32768: "mistral_v2v3", 131072: "mistral_v7_tekken"}
_PHI3_VOCAB_LF = {100352: "phi4", 200064: "phi4_mini"}  # Phi-4 and Phi-4-mini use the phi3 architecture


def templates(model_type: str, vocab: int, name: str = "") -> tuple[str, str]:
    """(Axolotl chat_template, LLaMA-Factory template) for a model type, refined by its vocabulary and name.

    Names checked against Axolotl 0.19.0's ChatTemplate enum and LLaMA-Factory 0.9.5's registered templates
    (tests/facts/data/framework_templates.yaml); LLaMA-Factory's model -> template map
    (llamafactory/extras/constants.py) chose among them. A Llama-architecture model is Llama 3 by its vocabulary,
    Llama 2 by its name; any other (TinyLlama, a fine-tune) gets ChatML / LLaMA-Factory's default.
    """
    if model_type == "llama":
        if vocab in LLAMA3_VOCABS:
            return "llama3", "llama3"
        return ("chatml", "llama2") if "llama-2" in name.lower() else ("chatml", "default")
    if model_type in ("mistral", "mixtral"):
        return _MISTRAL_AXOLOTL.get(vocab, "mistral_v1"), "mistral"
    if model_type == "phi3" and vocab in _PHI3_VOCAB_LF:
        return "chatml", _PHI3_VOCAB_LF[vocab]
    return _TEMPLATES.get(model_type, ("chatml", "default"))


# The text each LLaMA-Factory 0.9.5 template writes around a user turn (data/template.py, format_user), by which a
# tokenizer's own chat template is recognised. A local model's tokenizer template is what Axolotl formats with
# (tokenizer_default); LLaMA-Factory formats with a named template, which must write the same turns.
_LF_TURN_MARK = {
    "llama3": "<|start_header_id|>",
    "llama4": "<|header_start|>",
    "chatml": "<|im_start|>",
    "qwen": "<|im_start|>",
    "qwen3": "<|im_start|>",
    "qwen3_5": "<|im_start|>",
    "intern2": "<|im_start|>",
    "phi4": "<|im_start|>",
    "gemma": "<start_of_turn>",
    "gemma2": "<start_of_turn>",
    "gemma3": "<start_of_turn>",
    "phi": "<|end|>",
    "phi4_mini": "<|end|>",
    "mistral": "[INST]",
    "llama2": "[INST]",
    "cohere": "<|START_OF_TURN_TOKEN|>",
}
# formats recognised in a tokenizer's template, first match wins: (marks it writes, the LLaMA-Factory template)
_RECOGNISED = (
    (("<|start_header_id|>",), "llama3"),
    (("<|header_start|>",), "llama4"),
    (("<|im_start|>",), "chatml"),
    (("<start_of_turn>",), "gemma"),
    (("<|user|>", "<|end|>", "<|assistant|>"), "phi"),
    (("[INST]", "<<SYS>>"), "llama2"),
    (("[INST]",), "mistral"),
    (("<|START_OF_TURN_TOKEN|>",), "cohere"),
)


CHAT_FORMATS = frozenset(name for _, name in _RECOGNISED) | {"other", "none"}


def chat_format(chat_template: str) -> str:
    """The LLaMA-Factory template that writes the turns a tokenizer's chat template writes, or "other"."""
    for marks, name in _RECOGNISED:
        if all(m in chat_template for m in marks):
            return name
    return "other"


def lf_template_for_tokenizer(family_pick: str, fmt: str) -> tuple[str, str | None]:
    """The LLaMA-Factory template for a tokenizer whose chat template writes `fmt` (chat_format(); "other": one
    ftgen does not recognise, "none": no template), and a note when it is not `family_pick` (what the
    architecture alone gets). A family pick that writes the same turns (qwen for ChatML) stays."""
    mark = _LF_TURN_MARK.get(fmt)
    if mark is None or _LF_TURN_MARK.get(family_pick) == mark:
        return family_pick, None
    return fmt, (
        f"the tokenizer's chat template writes {mark} turns: LLaMA-Factory formats them with its `{fmt}` template "
        f"(the architecture alone would get `{family_pick}`), as Axolotl's tokenizer_default does"
    )


# ------------------------------------------------------------------------------------------- config.json -> card


@dataclass(frozen=True)
class Parsed:
    """What a config.json says, in ModelCard terms."""

    model_type: str
    family: str
    dims: Dims
    params: int
    vision_params: int
    lora_targets: tuple[str, ...]
    mlp_gated: bool
    trust_remote_code: bool
    notes: tuple[str, ...] = field(default_factory=tuple)


def _is_causal(config: dict) -> bool:
    archs = config.get("architectures")
    if not isinstance(archs, list) or not archs:
        return True  # unknown: let the shapes decide
    return any(isinstance(a, str) and a.endswith(_CAUSAL_SUFFIXES) for a in archs)


def _dims(c: _Config, arch: Arch | None) -> Dims:
    hidden = c.count(*SHAPE_KEYS["hidden"])
    heads = c.count(*SHAPE_KEYS["heads"])
    layers = c.count(*SHAPE_KEYS["layers"])
    if c.model_type == "falcon":
        multi_query = c.flag("multi_query", True)
        new_arch = c.flag("new_decoder_architecture")
        kv = c.count("num_kv_heads", required=False, default=heads) if (new_arch or not multi_query) else 1
        intermediate = c.count("ffn_hidden_size", required=False, default=4 * hidden)
        head_dim = hidden // heads
    else:
        kv = c.count(*SHAPE_KEYS["kv_heads"], required=False, default=heads)
        intermediate = c.count(*SHAPE_KEYS["intermediate"])
        head_dim = c.count("head_dim", required=False, default=hidden // heads)
    if heads % kv:
        c.errors.append(
            ArchError(
                "attention heads must be a multiple of key/value heads",
                c.prefix + "num_key_value_heads",
                kv,
                f"a divisor of {heads}",
            )
        )
    tie = c.flag("tie_word_embeddings")
    experts = top_k = moe_i = shared_i = 0
    moe_layers: tuple[int, ...] = ()
    if arch is None or arch.moe:
        experts = c.count(*SHAPE_KEYS["experts"], required=False, default=0) or 0
    if experts:
        top_k = c.count(*SHAPE_KEYS["top_k"], required=False, default=1)
        moe_i = c.count("moe_intermediate_size", required=False, default=intermediate)
        shared_i = c.count("shared_expert_intermediate_size", required=False, default=0) or 0
        step = c.count("decoder_sparse_step", required=False, default=1)
        dense_only = set(c.int_list("mlp_only_layers"))
        chosen = tuple(i for i in range(layers) if i not in dense_only and (i + 1) % step == 0)
        moe_layers = chosen if len(chosen) != layers else ()
        if not chosen:
            experts = top_k = moe_i = shared_i = 0
    return Dims(
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv,
        head_dim=head_dim,
        intermediate=intermediate,
        vocab=c.count("vocab_size"),
        max_context=c.count(*SHAPE_KEYS["max_context"]),
        tie=tie,
        experts=experts,
        top_k=top_k,
        moe_intermediate=moe_i,
        shared_intermediate=shared_i,
        moe_layers=moe_layers,
    )


def parse(config: dict) -> Parsed:
    """Read a config.json (a dict) into shapes and counts; ArchError says why one cannot be used."""
    if not isinstance(config, dict):
        raise ArchError("config.json is not a JSON object", "", type(config).__name__, "a JSON object")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ArchError("config.json names no model_type", "model_type", model_type, ", ".join(SUPPORTED))
    if model_type in REFUSED:
        raise ArchError(
            f"model_type {model_type} is not supported: {REFUSED[model_type]}",
            "model_type",
            model_type,
            ", ".join(SUPPORTED),
        )
    if not _is_causal(config):
        raise ArchError(
            "not a causal language model (its architectures are not *ForCausalLM)",
            "architectures",
            config.get("architectures"),
            "a decoder-only model: " + ", ".join(SUPPORTED),
        )
    remote = "auto_map" in config
    notes: list[str] = []
    errors: list[ArchError] = []
    vision = 0
    if model_type == "gemma3":  # image-text checkpoint: the language model is text_config, plus a SigLIP tower
        text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
        vis = config.get("vision_config") if isinstance(config.get("vision_config"), dict) else {}
        c = _Config(text, "gemma3_text", "text_config.", errors)
        arch = ARCHS["gemma3_text"]
        dims = _dims(c, arch)
        v = _Config(vis, "siglip_vision_model", "vision_config.", errors)
        vision = siglip_params(v) + v.count("hidden_size") * (dims.hidden + 1)  # + projector and its norm
    elif isinstance(config.get("text_config"), dict) or isinstance(config.get("vision_config"), dict):
        raise ArchError(
            f"model_type {model_type} is a multimodal checkpoint: of those ftgen sizes only Gemma 3's",
            "model_type",
            model_type,
            ", ".join(SUPPORTED),
        )
    else:
        arch = ARCHS.get(model_type)
        c = _Config(config, model_type, "", errors)
        dims = _dims(c, arch)
        if arch is None:
            notes.append(
                f"model_type {model_type} has no row in ftgen's architecture table: sized as a Llama-style decoder "
                "(separate q/k/v, gated MLP, two RMSNorms per layer); memory figures are approximate"
            )
    layout = arch.layout_for(c) if arch else Layout()
    if errors:
        first = errors[0]
        first.all = list(errors)
        raise first
    params = decoder_params(dims, layout) + vision
    targets = arch.lora_targets if arch else (ATTENTION_TARGETS if dims.experts else DENSE_TARGETS)
    return Parsed(
        model_type=model_type,
        family=arch.family if arch else model_type,
        dims=dims,
        params=params,
        vision_params=vision,
        lora_targets=targets,
        mlp_gated=layout.mlp_gated,
        trust_remote_code=remote,
        notes=tuple(notes),
    )


def lock_subset(config: dict) -> dict:
    """The keys of a config.json ftgen reads (nested text/vision configs included), in a stable order."""
    out: dict = {}
    for key in sorted(config):
        if key in CONFIG_KEYS:
            out[key] = config[key]
        elif key in NESTED_KEYS and isinstance(config[key], dict):
            out[key] = {k: config[key][k] for k in sorted(config[key]) if k in CONFIG_KEYS}
    if "auto_map" in out:  # only its presence matters (remote code); the class paths are not facts ftgen uses
        out["auto_map"] = {}
    return out
