"""Per-component GPU memory estimate of a fine-tuning setup: weights, adapters, gradients, optimizer, activations.

`estimate()` adds up one function per component (weights_bytes, adapter_bytes, gradients_bytes, optimizer_bytes,
optimizer_step_bytes, logits_bytes, activations_bytes, reference_bytes, overhead_bytes), each reading the same
`_Frame`; `_phases` removes what the activation and gradient peaks do not hold at the same time. Every constant
names the measurement or source behind it. The estimate carries its measured error band (ERROR_BANDS, from
benchmarks/memory_published.py) and the share of a GPU a plan may fill (fit_margin), the only margin ftgen uses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .facts.types import ModelCard

# ----------------------------------------------------------------------------- closed choices

METHODS = ("qlora", "lora", "full")
PRECISIONS = ("bf16", "fp16", "fp32")
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "sgd",
    "adafactor",
)
SHARDINGS = ("single", "ddp", "zero1", "zero2", "zero3", "zero3_offload", "fsdp")  # the Plan's `distributed`
UNSHARDED = ("single", "ddp")  # a full replica per process
MASTER_DTYPES = ("auto", "fp32", "bf16", "fp16")
CROSS_ENTROPY = ("standard", "chunked", "fused")
QUANT_BITS = (4, 8)

COMPONENTS = (
    "weights",
    "lora_adapters",
    "gradients",
    "optimizer",
    "optimizer_step",
    "activations",
    "logits",
    "reference_model",
    "overhead",
)

GIB = 2**30

# ----------------------------------------------------------------------------- documented constants
# Only the constants in this block were tuned against the benchmark (benchmarks/memory.py);
# every other number below is a byte count that follows from a data type.

#: CUDA context + cuBLAS/cuDNN kernels loaded on the first CUDA call. The transformers guide
#: "Model training anatomy" (docs/source/en/model_memory_anatomy.md) measures ~1.3 GB for the
#: kernels alone on an empty model; 1.3e9 bytes = 1.21 GiB. Not part of the PyTorch allocator's
#: statistics (torch.cuda.max_memory_reserved), which matters when comparing with such figures.
CUDA_CONTEXT_GIB = 1.3e9 / GIB

#: PyTorch caching-allocator fragmentation: reserved-but-unused blocks as a share of the
#: allocated bytes (block rounding and split blocks; see the PyTorch "CUDA semantics - memory
#: management" notes), by kind of run. Read from published runs that log both the allocator's
#: peak allocated bytes and the device memory in use (benchmarks/data/measured.yaml, source
#: fms_acceleration: (nvidia-smi - CUDA_CONTEXT_GIB) / peak_torch_mem_alloc on A100-80GB):
#: one GPU, median 1.12 (16-bit full/LoRA, 1.05-1.19) and 1.10 (NF4 QLoRA, 1.08-1.29);
#: FSDP on 2 GPUs (flat-parameter all-gather and reduce-scatter buffers, NCCL): median 1.21
#: (1.12-1.50). `python benchmarks/memory_published.py` prints these ratios.
FRAGMENTATION = 0.12
FRAGMENTATION_SHARDED = 0.21

#: transformers' LlamaRMSNorm (and the Qwen/Mistral/Gemma copies) computes in fp32:
#: hidden_states.to(float32) and the fp32 tensor is what pow() and the rsqrt multiply save for
#: backward, so each of a layer's two norms keeps 4 bytes per element whatever the compute dtype.
#: Measured (issue 19, CPU allocator, one Llama-8B-shaped layer on the Axolotl stack, bf16,
#: dropout 0): 215 KiB/token saved against 164 by the 16-bit formula; fp32 norms give +16 KiB of it.
NORM_SAVED_BYTES = 4

#: the attention output is held twice: the SDPA/flash kernel saves its output for backward, and
#: transformers reshapes it (transpose(1, 2).contiguous()) into a new tensor that o_proj (its
#: LoRA A matrix, or the frozen layer's input) saves. +8 KiB/token of the same measurement.
ATTN_OUT_COPIES = 2

#: torch.nn.Dropout (native_dropout) keeps a bool mask, 1 byte per element, for backward. With
#: PEFT lora_dropout > 0 every adapted module has its own dropout, so each module's input is
#: copied (dropped-out, compute dtype, saved by lora_A) and masked: (2 + 1) bytes per input element
#: in 16-bit. Measured (issue 19, same layer): 319 KiB/token at dropout 0.05 against 215 at 0,
#: +104 KiB; this model gives 3 * (6h + i) = 114 KiB for the seven all-linear targets of Llama-8B.
LORA_DROPOUT_MASK_BYTES = 1

#: fp32 copies of the vocabulary-sized logits alive at the loss peak of the standard HF loss
#: (transformers ForCausalLMLoss upcasts logits to fp32 before cross_entropy). The peak is in
#: log_softmax's backward: its saved output, the incoming gradient from nll_loss and the gradient
#: it produces are alive together. Measured: benchmarks/memory_measured.py (CPU allocator, tiny
#: Llamas whose logits dominate) finds 3 copies, e.g. b4 s512 vocab 8000: 227 MiB measured, 226
#: estimated with 3, 164 with 2.
LOGITS_FP32_COPIES = 3

#: The same for the chunked loss, per chunk: the saved log-softmax chunk and its gradient
#: (torchtune compiles the chunked loss; not measured here, kept at 2 as tuned on torchtune's rows).
CHUNK_FP32_COPIES = 2

#: Chunks of the chunked cross-entropy (torchtune CEWithChunkedOutputLoss num_output_chunks=8;
#: Axolotl chunked_cross_entropy_num_chunks default 8): compute-dtype logits stay whole, the fp32
#: upcast and its gradient exist for one chunk at a time.
CE_CHUNKS = 8

#: ZeRO-3 / FSDP: unsharded parameter units alive at once (the unit being computed plus the
#: prefetched next one; DeepSpeed stage3_prefetch_bucket_size / FSDP forward_prefetch).
GATHERED_UNITS = 2

#: The estimate's error on MEASURED peaks: (low, high) = the 10th and 90th percentiles of
#: measured / estimate - 1 over benchmarks/data/measured.yaml (like with like: the estimate's
#: allocated part against max_memory_allocated, its total against nvidia-smi), as printed by
#: `python benchmarks/memory_published.py` ("band, one GPU" / "band, several GPUs"). Runs on several
#: GPUs spread wider, mostly below the estimate (the recompute counted on top of the logits:
#: activations_bytes). Two sources: fms-acceleration (A100-80GB, 40 figures) and Answer.AI fsdp_qlora (2x RTX 3090/4090, 13 figures).
#: PLAN.md and `ftgen estimate` show the band; the fit margin follows from its top.
ERROR_BANDS = {"one_gpu": (-0.01, 0.11), "several_gpus": (-0.15, 0.11)}


def error_band(setup: TrainSetup) -> tuple[float, float]:
    """The measured error band of the estimate for this kind of run (ERROR_BANDS)."""
    return ERROR_BANDS["one_gpu" if setup.world_size == 1 else "several_gpus"]


def fit_margin(setup: TrainSetup) -> float:
    """Share of a GPU's memory a plan may fill: the estimate must fit even at the top of its error band,
    so a plan uses at most 1 / (1 + high) of the card (0.90 on one GPU and on several). The rules
    (rules/_fit.py) turn gradient checkpointing off and pick the micro batch against this margin; nothing
    else defines one."""
    return round(1 / (1 + error_band(setup)[1]), 3)


# ----------------------------------------------------------------------------- byte tables

#: bytes per element of each floating dtype
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}

#: NF4 weights (QLoRA, Dettmers et al. 2023, arXiv:2305.14314 sec. 3): 4 bits per parameter,
#: plus one fp32 absmax per 64-parameter block (32/64 = 0.5 bit/param) or, with double
#: quantization, an 8-bit absmax per block plus one fp32 constant per 256 blocks
#: (8/64 + 32/(64*256) = 0.127 bit/param).
NF4_BITS = 4.0
NF4_CONST_BITS = 32 / 64
NF4_CONST_BITS_DOUBLE = 8 / 64 + 32 / (64 * 256)

#: LLM.int8 (Dettmers et al. 2022, arXiv:2208.07339): 1 byte per weight + one fp32 scale per row.
INT8_BYTES = 1.0

#: Optimizer states per trainable parameter: (number of states, state dtype).
#: "master" = same dtype as the trainable parameter: torch.optim.AdamW allocates its state with
#: torch.zeros_like(param) (torch/optim/adamw.py), so a bf16 parameter has bf16 moments.
#: bitsandbytes 8-bit optimizers (Dettmers et al. 2021, arXiv:2110.02861) keep two int8 states
#: with a fp32 absmax per 256-element block (bitsandbytes.optim.Optimizer2State, blocksize 256);
#: bitsandbytes 32-bit optimizers always hold fp32 states.
_OPT_STATES = {
    "adamw_torch": (2, "master"),
    "adamw_torch_fused": (2, "master"),
    "adamw_8bit": (2, "int8"),
    "paged_adamw_8bit": (2, "int8"),
    "paged_adamw_32bit": (2, "fp32"),
    "sgd": (0, "master"),  # HF Trainer's "sgd" has momentum 0: no state (momentum would add 1 state)
    "adafactor": (0, "factored"),  # HF Adafactor: beta1=None, factored second moment (rows + cols)
}
_INT8_STATE_BYTES = 1 + 4 / 256

#: Optimizers whose step allocates a temporary the size of all the parameters it updates, in the
#: state dtype: torch.optim.AdamW with foreach=True (the default on CUDA, and what HF Trainer's
#: "adamw_torch" builds) computes the denominator sqrt(v)/bc + eps for every parameter at once
#: (torch._foreach_sqrt returns a new list). The fused kernel (adamw_torch_fused) and the
#: bitsandbytes optimizers update in place. Measured: fms-acceleration, Mistral-7B full fine-tune in
#: pure fp16 on one A100-80GB, peak allocated 67.96 GiB at micro batch 4 and 8 alike (the optimizer
#: step, not the activations, sets the peak) = weights 13.49 + gradients 13.49 + states 26.98 +
#: 13.49 of step temporaries (benchmarks/data/measured.yaml).
_STEP_TEMP_STATES = {"adamw_torch": 1}  # one int8 + its share of a fp32 block absmax

_ZERO = ("zero1", "zero2", "zero3", "zero3_offload", "fsdp")


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class TrainSetup:
    """The training choices that decide GPU memory (the rules engine fills it from the Plan)."""

    method: str  # "qlora" | "lora" | "full"
    micro_batch_size: int
    sequence_len: int
    precision: str = "bf16"  # "bf16" | "fp16" | "fp32"
    gradient_checkpointing: bool = True
    flash_attention: bool = True  # memory-efficient attention (FA2 / SDPA flash): no s^2 score tensor
    optimizer: str = "adamw_torch"  # one of OPTIMIZERS
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    quant_bits: int | None = None  # 4 (nf4, qlora), 8, or None (16-bit / fp32 weights)
    double_quant: bool = True
    world_size: int = 1  # GPUs in total
    sharding: str = "single"  # single | ddp (no sharding) | zero1 | zero2 | zero3 | zero3_offload | fsdp (= zero3)
    reference_model: bool = False  # DPO/KTO/ORPO full FT keeps a frozen reference copy
    trainable_embeddings: bool = False
    # --- additions beyond the interface (all defaulted, so existing calls are unchanged)
    #: dtype of the parameters the optimizer updates. "auto": LoRA adapters fp32 (PEFT's
    #: autocast_adapter_dtype=True; LLaMA-Factory upcasts trainable params); full fine-tune on one
    #: GPU / DDP keeps the loaded dtype (Axolotl loads bf16, HF Trainer does not upcast: "pure
    #: bf16"); full fine-tune under ZeRO/FSDP keeps an fp32 master copy (ZeRO paper, K=12).
    #: LLaMA-Factory full fine-tune without pure_bf16 upcasts trainable params: pass "fp32".
    master_dtype: str = "auto"
    #: "standard": HF loss upcasts all logits to fp32; "chunked": Axolotl chunked_cross_entropy /
    #: torchtune CEWithChunkedOutputLoss; "fused": Liger fused-linear CE / Cut Cross-Entropy /
    #: torchtune LinearCrossEntropyLoss (logits never materialised whole).
    cross_entropy: str = "standard"
    #: torchtune optimizer_in_bwd: the step runs in each parameter's gradient hook, so only the
    #: gradient being produced is alive (single-device torchtune only).
    optimizer_in_backward: bool = False
    #: None: unknown, planned as > 1. With gradient accumulation the previous micro-batches'
    #: gradients are alive through the next forward, so gradients, activations and logits add up.
    #: With 1 on one unsharded GPU (HF Trainer zero_grad(set_to_none=True) after every step) the
    #: activation/logits peak at the start of backward and the gradient peak at its end do not
    #: coincide: the larger counts.
    gradient_accumulation_steps: int | None = None
    #: PEFT lora_dropout. ftgen ships 0.05 (rules/hyper.py); > 0 makes PEFT save a dropped-out copy of
    #: every adapted module's input and its mask (see layer_activation_bytes).
    lora_dropout: float = 0.05
    #: RMSNorm fused into one kernel (torch.compile, as torchtune runs with compile=True; Liger's
    #: LigerRMSNorm): it saves its 16-bit input and one fp32 rstd per token, not the fp32 upcast.
    fused_norm: bool = False


@dataclass(frozen=True)
class MemoryEstimate:
    """GPU memory per GPU, by component (GiB), for one model and setup."""

    components: dict[str, float]  # GiB per GPU, ordered as COMPONENTS
    total_gb: float  # GiB per GPU (sum of components)
    trainable_params: int
    notes: tuple[str, ...]
    #: relative error band of the estimate on measured runs, (low, high): a measured peak lands in
    #: [total * (1 + low), total * (1 + high)] for 8 in 10 published measurements (ERROR_BANDS)
    band: tuple[float, float] = (0.0, 0.0)
    #: share of the GPU a plan with this setup may fill (fit_margin)
    fit_margin: float = 1.0

    @property
    def low_gb(self) -> float:
        return self.total_gb * (1 + self.band[0])

    @property
    def high_gb(self) -> float:
        return self.total_gb * (1 + self.band[1])

    def to_dict(self) -> dict:
        return {
            "unit": "GiB",
            "components": {k: round(v, 2) for k, v in self.components.items()},
            "total_gb": round(self.total_gb, 2),
            "low_gb": round(self.low_gb, 2),
            "high_gb": round(self.high_gb, 2),
            "fit_margin": self.fit_margin,
            "trainable_params": int(self.trainable_params),
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------- model shapes


@dataclass(frozen=True)
class Shapes:
    """Matrix sizes of one model, derived from its card."""

    h: int  # hidden
    hq: int  # query width heads * head_dim
    hkv: int  # key/value width kv_heads * head_dim
    i: int  # dense MLP intermediate
    layers: int
    vocab: int
    experts: int  # 0 for dense
    top_k: int
    moe_i: int
    mlp_mats: int = 3  # gated MLP (gate, up, down); 2 for a plain one (fc1/fc2: phi, falcon, gpt_neox)

    @property
    def attn_params(self) -> int:
        # q (h x hq), k and v (h x hkv), o (hq x h); biases ignored (Qwen2 qkv bias: < 0.01 %)
        return self.h * self.hq + 2 * self.h * self.hkv + self.hq * self.h

    @property
    def mlp_params(self) -> int:
        # gated MLP (SwiGLU / GeGLU): gate and up (h x i), down (i x h); plain: up, down; MoE: per expert + router
        if self.experts:
            return self.experts * self.mlp_mats * self.h * self.moe_i + self.h * self.experts
        return self.mlp_mats * self.h * self.i

    @property
    def active_mlp_params(self) -> int:
        if self.experts:
            return self.top_k * self.mlp_mats * self.h * self.moe_i + self.h * self.experts
        return self.mlp_params

    @property
    def layer_linear_params(self) -> int:
        return self.attn_params + self.mlp_params

    @property
    def embed_params(self) -> int:
        return self.vocab * self.h

    @property
    def largest_matrix(self) -> int:
        mlp = self.h * self.moe_i if self.experts else self.h * self.i
        return max(mlp, self.h * self.hq)


def shapes(model: ModelCard) -> Shapes:
    """The matrix shapes of a model card (hidden, query/kv widths, MLP, experts)."""
    moe = bool(model.num_experts)
    return Shapes(
        h=model.hidden,
        hq=model.heads * model.dim_head,
        hkv=model.kv_heads * model.dim_head,
        i=model.intermediate,
        layers=model.layers,
        vocab=model.vocab,
        experts=int(model.num_experts or 0) if moe else 0,
        top_k=int(model.experts_per_token or 1) if moe else 0,
        moe_i=int(model.moe_intermediate or model.intermediate) if moe else 0,
        mlp_mats=3 if model.mlp_gated else 2,
    )


def param_split(model: ModelCard) -> tuple[int, int]:
    """(quantizable, kept_16bit) parameter counts.

    Quantizable: the decoder layers' linear weights, from the shapes. Kept in 16-bit under
    QLoRA: input embeddings, lm_head (bitsandbytes skips the output embedding; transformers
    get_keys_to_not_convert), norms, and whatever params_b holds beyond the shapes
    (biases, vision towers).
    """
    sh = shapes(model)
    quantizable = sh.layers * sh.layer_linear_params
    untied_head = 0 if model.tie_embeddings else sh.embed_params
    from_shapes = quantizable + sh.embed_params + untied_head + sh.layers * 2 * sh.h + sh.h
    total = max(int(round(model.params_b * 1e9)), from_shapes)
    return quantizable, total - quantizable


def total_params(model: ModelCard) -> int:
    q, k = param_split(model)
    return q + k


# ----------------------------------------------------------------------------- LoRA


#: (d_in, d_out, per_layer_multiplier) of each LoRA target, by module name (HF names, plus the
#: torchtune / Mixtral / Phi-3 spellings). MoE: expert MLPs are targeted once per expert.
def _target_dims(name: str, sh: Shapes) -> tuple[int, int, int] | None:
    mlp_i, mult = (sh.moe_i, sh.experts) if sh.experts else (sh.i, 1)
    table = {
        "q_proj": (sh.h, sh.hq, 1),
        "k_proj": (sh.h, sh.hkv, 1),
        "v_proj": (sh.h, sh.hkv, 1),
        "o_proj": (sh.hq, sh.h, 1),
        "output_proj": (sh.hq, sh.h, 1),  # torchtune
        "qkv_proj": (sh.h, sh.hq + 2 * sh.hkv, 1),  # phi3 fused
        "gate_proj": (sh.h, mlp_i, mult),
        "up_proj": (sh.h, mlp_i, mult),
        "down_proj": (mlp_i, sh.h, mult),
        "w1": (sh.h, mlp_i, mult),  # mixtral / torchtune
        "w3": (sh.h, mlp_i, mult),
        "w2": (mlp_i, sh.h, mult),
        "gate_up_proj": (sh.h, 2 * mlp_i, mult),  # phi3 fused
        "dense": (sh.hq, sh.h, 1),  # attention output: phi, falcon, gpt_neox
        "fc1": (sh.h, mlp_i, mult),  # phi (plain MLP)
        "fc2": (mlp_i, sh.h, mult),
        "query_key_value": (sh.h, sh.hq + 2 * sh.hkv, 1),  # falcon / gpt_neox fused
        "dense_h_to_4h": (sh.h, mlp_i, mult),
        "dense_4h_to_h": (mlp_i, sh.h, mult),
    }
    return table.get(name)


_ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_ALL_LINEAR_PLAIN = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj")  # same sizes, two-matrix MLP
_ONCE_TARGETS = ("lm_head", "embed_tokens")


def lora_trainable_params(model: ModelCard, rank: int, targets: tuple[str, ...]) -> int:
    """LoRA parameters: r*(d_in + d_out) per targeted linear d_in x d_out (Hu et al. 2021,
    arXiv:2106.09685: A is r x d_in, B is d_out x r), per layer; MoE experts once per expert.

    "all-linear" / "all" expand to the seven attention and MLP projections; lm_head and
    embed_tokens are counted once (not per layer).
    """
    sh = shapes(model)
    names: list[str] = []
    every = _ALL_LINEAR if sh.mlp_mats == 3 else _ALL_LINEAR_PLAIN
    for t in targets:
        names.extend(every if t in ("all-linear", "all_linear", "all") else (t,))
    unknown = [n for n in names if n not in _ONCE_TARGETS and _target_dims(n, sh) is None]
    if unknown:
        raise ValueError(
            f"lora_targets: unknown module(s) {sorted(set(unknown))}; allowed: "
            "q_proj k_proj v_proj o_proj gate_proj up_proj down_proj (HF), output_proj w1 w2 w3 "
            "(torchtune/Mixtral), qkv_proj gate_up_proj (Phi-3), dense fc1 fc2 (Phi), "
            "query_key_value dense_h_to_4h dense_4h_to_h (Falcon, GPT-NeoX), lm_head, embed_tokens, all-linear"
        )
    per_layer = 0
    once = 0
    for n in dict.fromkeys(names):  # a module named twice is adapted once
        if n == "lm_head":
            once += rank * (sh.h + sh.vocab)
        elif n == "embed_tokens":
            once += rank * (sh.vocab + sh.h)
        else:
            d_in, d_out, mult = _target_dims(n, sh)  # type: ignore[misc]
            per_layer += mult * rank * (d_in + d_out)
    return sh.layers * per_layer + once


# ----------------------------------------------------------------------------- activations


def layer_activation_bytes(
    model: ModelCard,
    seq: int,
    batch: int,
    act_bytes: int,
    flash: bool,
    lora_inputs: int = 0,
    lora_dropout: float = 0.0,
    fused_norm: bool = False,
) -> float:
    """Bytes one decoder layer saves for backward without recompute.

    Korthikanti et al. 2022 (arXiv:2205.05198, sec. 4.1) count s*b*h*(34 + 5*a*s/h) bytes for a
    GPT layer in 16-bit: norms 4sbh, attention 11sbh + 5as^2b, MLP 19sbh (incl. 2 dropout masks).
    Adapted here to LLaMA-style layers, element by element:
      norms      2h in fp32    transformers' RMSNorm upcasts its input (hidden.to(float32)) and the
                               fp32 copy is what pow/mul save (NORM_SAVED_BYTES); a fused norm
                               (torch.compile, Liger) saves its compute-dtype input instead
      attention  h + 2hkv + ATTN_OUT_COPIES*hq + hq
                               QKV input, K, V (GQA: hkv = kv_heads*head_dim), Q, the attention output
                               as the kernel saves it and the contiguous copy o_proj reads
      MLP        h + 4i        gated MLP: input, gate out, act(gate), up out, product (SwiGLU/GeGLU);
                 h + 2i        a plain MLP (phi, falcon, gpt_neox): input, fc1 out, act(fc1 out)
      MoE MLP    h + E + k(2h + 4i_e)  router logits, per chosen expert its input, 4 intermediates, output
      LoRA       lora_inputs * (act_bytes + 1) bytes when lora_dropout > 0: PEFT runs
                 lora_A(dropout(x)); the dropped-out copy of each adapted module's input is what
                 lora_A saves and the dropout keeps its bool mask (1 byte/element). `lora_inputs` is
                 the sum of the adapted modules' input widths. At dropout 0 PEFT uses nn.Identity and
                 lora_A saves the same tensor the layer already holds.
    Without flash attention the a x s x s scores are materialised: transformers' eager attention
    saves the softmax output in fp32 (softmax(..., dtype=float32)) plus its cast to the compute
    dtype for the PV matmul: 4 + 2 bytes per element in 16-bit, 4 in fp32 (the cast is a no-op);
    soft-capped attention (Gemma-2: tanh(scores/cap)*cap) saves the tanh output as well.
    Checked against the CPU allocator by benchmarks/memory_measured.py.
    """
    sh = shapes(model)
    elems = sh.h + 2 * sh.hkv + (ATTN_OUT_COPIES + 1) * sh.hq
    mlp_inner = 4 if sh.mlp_mats == 3 else 2  # gated: gate, act(gate), up, product; plain: fc1 out, act(fc1)
    if sh.experts:
        elems += sh.h + sh.experts + sh.top_k * (2 * sh.h + mlp_inner * sh.moe_i)
    else:
        elems += sh.h + mlp_inner * sh.i
    norm_bytes = act_bytes if fused_norm else max(NORM_SAVED_BYTES, act_bytes)
    per_token = elems * act_bytes + 2 * sh.h * norm_bytes
    if lora_dropout > 0:
        per_token += lora_inputs * (act_bytes + LORA_DROPOUT_MASK_BYTES)
    total = float(seq) * batch * per_token
    if not flash:
        per_score = 4 + (act_bytes if act_bytes < 4 else 0)
        if _softcapped_attention(model):
            per_score += act_bytes
        total += float(model.heads) * seq * seq * batch * per_score
    return total


def _softcapped_attention(model: ModelCard) -> bool:
    return model.family == "gemma2" or model.model_type == "gemma2"


def lora_input_width(model: ModelCard, targets: tuple[str, ...]) -> int:
    """Sum of the input widths of the LoRA-adapted modules of one layer (what PEFT's dropout copies)."""
    sh = shapes(model)
    every = _ALL_LINEAR if sh.mlp_mats == 3 else _ALL_LINEAR_PLAIN
    names: list[str] = []
    for t in targets:
        names.extend(every if t in ("all-linear", "all_linear", "all") else (t,))
    width = 0
    for n in dict.fromkeys(names):
        dims = _target_dims(n, sh)
        if dims is None:
            continue  # lm_head / embed_tokens: once per model, not per layer
        d_in, _, mult = dims
        # MoE experts see only their routed tokens: top_k of the E experts' inputs exist per token
        width += d_in * (min(mult, sh.top_k) if sh.experts and mult > 1 else mult)
    return width


# ----------------------------------------------------------------------------- validation


def _check(setup: TrainSetup) -> None:
    problems = []

    def bad(key: str, found: object, allowed: object) -> None:
        problems.append(f"{key}: found {found!r}, allowed {allowed}")

    if setup.method not in METHODS:
        bad("method", setup.method, METHODS)
    if setup.precision not in PRECISIONS:
        bad("precision", setup.precision, PRECISIONS)
    if setup.optimizer not in OPTIMIZERS:
        bad("optimizer", setup.optimizer, OPTIMIZERS)
    if setup.sharding not in SHARDINGS:
        bad("sharding", setup.sharding, SHARDINGS)
    if setup.master_dtype not in MASTER_DTYPES:
        bad("master_dtype", setup.master_dtype, MASTER_DTYPES)
    if setup.cross_entropy not in CROSS_ENTROPY:
        bad("cross_entropy", setup.cross_entropy, CROSS_ENTROPY)
    if setup.quant_bits is not None and setup.quant_bits not in QUANT_BITS:
        bad("quant_bits", setup.quant_bits, "4, 8 or None")
    if setup.method == "full" and setup.quant_bits is not None:
        bad("quant_bits", setup.quant_bits, "None for a full fine-tune (quantized weights are frozen)")
    if setup.micro_batch_size < 1:
        bad("micro_batch_size", setup.micro_batch_size, ">= 1")
    if setup.sequence_len < 1:
        bad("sequence_len", setup.sequence_len, ">= 1")
    if setup.world_size < 1:
        bad("world_size", setup.world_size, ">= 1")
    if setup.gradient_accumulation_steps is not None and setup.gradient_accumulation_steps < 1:
        bad("gradient_accumulation_steps", setup.gradient_accumulation_steps, ">= 1 or None")
    if setup.method != "full" and setup.lora_rank < 1:
        bad("lora_rank", setup.lora_rank, ">= 1")
    if problems:
        raise ValueError("invalid TrainSetup: " + "; ".join(problems))


def _master_dtype(setup: TrainSetup) -> str:
    if setup.master_dtype != "auto":
        return setup.master_dtype
    if setup.method != "full" or setup.precision == "fp32":
        return "fp32"
    return "fp32" if setup.sharding in _ZERO else setup.precision


def _opt_bytes_per_param(setup: TrainSetup, master: str, h: int) -> float:
    n, kind = _OPT_STATES[setup.optimizer]
    if kind == "master":
        return n * DTYPE_BYTES[master]
    if kind == "int8":
        return n * _INT8_STATE_BYTES
    if kind == "fp32":
        return n * 4.0
    # adafactor: an m x n matrix keeps m + n fp32 factors, i.e. about 2/h of its size (h ~ m ~ n)
    return 4.0 * 2.0 / h


# ----------------------------------------------------------------------------- the estimate, one function per component


@dataclass(frozen=True)
class _Frame:
    """What every component function reads: the model's shapes and the setup's derived choices."""

    model: ModelCard
    setup: TrainSetup
    sh: Shapes
    cb: int  # compute dtype bytes (activations, 16-bit weights)
    master: str  # dtype of the trainable parameters the optimizer updates
    mb: int
    quantizable: int
    kept: int
    bits: int | None  # 4, 8 or None
    deepspeed_master: bool  # ZeRO/FSDP full fine-tune: 16-bit params + fp32 master in the optimizer partition
    opt_div: int
    grad_div: int
    weight_div: int
    offload: bool
    unit: int  # largest gathered unit (ZeRO-3/FSDP), parameters

    @property
    def n_total(self) -> int:
        return self.quantizable + self.kept

    @property
    def single(self) -> bool:
        return self.setup.world_size == 1 and self.setup.sharding in UNSHARDED


def _frame(model: ModelCard, setup: TrainSetup) -> _Frame:
    sh = shapes(model)
    n_gpu, shard = setup.world_size, setup.sharding
    master = _master_dtype(setup)
    quantizable, kept = param_split(model)
    bits = setup.quant_bits if setup.quant_bits is not None else (4 if setup.method == "qlora" else None)
    return _Frame(
        model=model,
        setup=setup,
        sh=sh,
        cb=DTYPE_BYTES[setup.precision],
        master=master,
        mb=DTYPE_BYTES[master],
        quantizable=quantizable,
        kept=kept,
        bits=bits,
        deepspeed_master=setup.method == "full" and shard in _ZERO and master == "fp32" and setup.precision != "fp32",
        opt_div=n_gpu if shard in _ZERO else 1,
        grad_div=n_gpu if shard in ("zero2", "zero3", "zero3_offload", "fsdp") else 1,
        weight_div=n_gpu if shard in ("zero3", "fsdp") else 1,
        offload=shard == "zero3_offload",
        unit=max(sh.layer_linear_params + 2 * sh.h, sh.embed_params),
    )


def weights_bytes(f: _Frame, notes: list[str]) -> float:
    """The model's weights per GPU: NF4 / int8 / 16-bit / fp32+AMP, sharded under ZeRO-3/FSDP."""
    s, sh, cb = f.setup, f.sh, f.cb
    if s.method == "qlora" and s.quant_bits is None:
        notes.append("qlora without quant_bits: 4-bit NF4 assumed")
    if f.bits == 4:
        const = NF4_CONST_BITS_DOUBLE if s.double_quant else NF4_CONST_BITS
        weights = f.quantizable * (NF4_BITS + const) / 8 + f.kept * cb
        notes.append(
            f"weights NF4: {NF4_BITS + const:.3f} bits/param ({'with' if s.double_quant else 'without'} "
            "double quantization, QLoRA arXiv:2305.14314); embeddings, lm_head and norms stay "
            f"{s.precision} ({f.kept / 1e9:.2f}B params)"
        )
    elif f.bits == 8:
        q_bytes = f.quantizable * INT8_BYTES + sh.layers * 4 * (2 * sh.h + sh.hq + 2 * sh.hkv + 2 * sh.i)
        weights = q_bytes + f.kept * cb
        notes.append(
            "weights LLM.int8: 1 byte/param + fp32 row scales (arXiv:2208.07339); embeddings, lm_head, norms 16-bit"
        )
    elif s.method == "full" and f.master == "fp32" and s.precision != "fp32" and not f.deepspeed_master:
        # AMP with fp32 parameters: autocast caches a 16-bit copy of every weight for the forward
        # (HF "Model training anatomy": 4 + 2 = 6 bytes/param for mixed-precision weights)
        weights = f.n_total * (4 + cb)
        notes.append(
            "full fine-tune, fp32 weights + AMP: 6 bytes/param "
            "(fp32 params + 16-bit autocast copies, HF model_memory_anatomy)"
        )
    else:
        weights = f.n_total * cb
    if f.bits is not None:
        # bitsandbytes dequantizes one weight at a time to the compute dtype and frees it after
        # the matmul: one largest matrix of transient buffer
        weights += sh.largest_matrix * cb
    weights /= f.weight_div
    if f.offload:
        weights = GATHERED_UNITS * f.unit * cb
        notes.append(
            f"zero3_offload: parameters and optimizer live in CPU RAM (~{(f.n_total * (cb + 12)) / GIB:.0f} GiB "
            "host memory across ranks); the GPU holds the gathered working set only"
        )
    elif f.weight_div > 1:
        weights += GATHERED_UNITS * f.unit * cb
        notes.append(
            f"{s.sharding}: weights sharded over {s.world_size} GPUs + {GATHERED_UNITS} gathered layer(s) in flight"
        )
    return weights


def trainable_params(f: _Frame, notes: list[str]) -> int:
    """Parameters the optimizer updates: all of them for a full fine-tune, the adapters (+ embeddings) otherwise."""
    s, sh = f.setup, f.sh
    if s.method == "full":
        return f.n_total
    trainable = lora_trainable_params(f.model, s.lora_rank, s.lora_targets)
    if s.trainable_embeddings:
        emb = sh.embed_params * (1 if f.model.tie_embeddings else 2)
        trainable += emb
        notes.append(
            f"trainable embeddings: PEFT modules_to_save copies embed_tokens/lm_head ({emb / 1e9:.2f}B params, {f.master})"
        )
    return trainable


def adapter_bytes(f: _Frame, trainable: int, notes: list[str]) -> float:
    """LoRA adapters (and trainable embedding copies) held in the master dtype."""
    if f.setup.method == "full":
        return 0.0
    notes.append(
        f"LoRA r={f.setup.lora_rank}: {trainable:,} trainable params held in {f.master} "
        "(PEFT autocast_adapter_dtype / LLaMA-Factory upcast)"
    )
    return trainable * f.mb / (f.weight_div if not f.offload else 1)


def _fsdp_accumulates_unsharded(f: _Frame) -> bool:
    """FSDP under gradient accumulation: Accelerate wraps every micro batch but the last in FSDP.no_sync(), and
    "FSDP will accumulate the full model gradients (instead of gradient shards) until the eventual sync"
    (torch.distributed.fsdp.FullyShardedDataParallel.no_sync docstring). DeepSpeed ZeRO-2/3 reduce-scatter every
    micro batch into the partitioned buffer instead, so only FSDP keeps whole gradients."""
    s = f.setup
    return s.sharding == "fsdp" and s.world_size > 1 and s.gradient_accumulation_steps != 1


def gradients_bytes(f: _Frame, trainable: int, notes: list[str]) -> float:
    """Gradients of the trainable parameters per GPU (sharded by ZeRO-2/3 and FSDP, whole under FSDP no_sync)."""
    s, sh = f.setup, f.sh
    grad_dtype_bytes = f.cb if f.deepspeed_master else f.mb
    if s.optimizer_in_backward:
        largest = max(sh.embed_params, sh.largest_matrix) if s.method == "full" else 0
        notes.append(
            "optimizer step fused into backward (torchtune optimizer_in_bwd): only the gradient being produced is alive"
        )
        return largest * grad_dtype_bytes
    if f.offload:
        # ZeRO-Offload moves gradient partitions to the CPU optimizer; the GPU holds the
        # gradients of the layer being reduced
        per_layer = sh.layer_linear_params if s.method == "full" else trainable / sh.layers
        return per_layer * grad_dtype_bytes
    grad_div = f.grad_div
    if _fsdp_accumulates_unsharded(f):
        grad_div = 1
        notes.append(
            "fsdp with gradient accumulation: micro batches run under no_sync, so every rank holds whole "
            "(unsharded) gradients until the last micro batch (PyTorch FSDP.no_sync); "
            "gradient_accumulation_steps 1 or Accelerate's sync_each_batch avoids it"
        )
    gradients = trainable * grad_dtype_bytes / grad_div
    if grad_div > 1:
        # the gradients of the layer being reduced are whole before reduce-scatter
        gradients += (sh.layer_linear_params if s.method == "full" else 0) * grad_dtype_bytes
    if s.sharding in UNSHARDED and s.world_size > 1 and s.method == "full":
        # torch DDP copies gradients into flat all-reduce buckets unless gradient_as_bucket_view=True
        # (PyTorch DistributedDataParallel docs): a second gradient-sized buffer
        gradients *= 2
        notes.append("DDP: gradient buckets double gradient memory (gradient_as_bucket_view is off by default)")
    return gradients


def optimizer_bytes(f: _Frame, trainable: int, notes: list[str]) -> float:
    """Optimizer states per GPU (+ the fp32 master copy of mixed-precision ZeRO/FSDP)."""
    s = f.setup
    opt_per_param = _opt_bytes_per_param(s, f.master, f.sh.h)
    if f.deepspeed_master:
        opt_per_param += 4  # fp32 master copy lives in the ZeRO optimizer partition
        notes.append(
            f"{s.sharding}: mixed-precision ZeRO accounting, 2 (16-bit params) + 2 (grads) + "
            f"{opt_per_param:.0f} (fp32 master + states) bytes/param (Rajbhandari et al. 2020, arXiv:1910.02054)"
        )
    optimizer = 0.0 if f.offload else trainable * opt_per_param / f.opt_div
    if s.optimizer.startswith("paged"):
        notes.append(
            f"{s.optimizer}: {optimizer / GIB:.2f} GiB of states in CUDA unified memory; they can spill to "
            "CPU RAM under pressure (counted in full here) and are invisible to torch.cuda memory statistics"
        )
    if s.method == "full" and f.master == s.precision != "fp32" and s.optimizer.startswith("adamw_torch"):
        notes.append(
            f"full fine-tune in pure {s.precision}: torch AdamW keeps its moments in the parameter dtype "
            f"(2 + 2 + 4 = 8 bytes/param); an fp32 master (LLaMA-Factory without pure_bf16) costs 18"
        )
    return optimizer


def logits_bytes(f: _Frame, notes: list[str]) -> float:
    """The vocabulary-sized logits and their fp32 copies alive at the loss."""
    s, sh = f.setup, f.sh
    n_logits = float(s.micro_batch_size) * s.sequence_len * sh.vocab
    if s.cross_entropy == "standard":
        logits = n_logits * 4 * LOGITS_FP32_COPIES
        notes.append(
            f"logits: b*s*vocab in fp32 x {LOGITS_FP32_COPIES} (HF loss upcasts logits; log-softmax backward holds "
            "its saved output, the incoming and the outgoing gradient)"
        )
    elif s.cross_entropy == "chunked":
        logits = n_logits * f.cb + n_logits / CE_CHUNKS * 4 * CHUNK_FP32_COPIES
        notes.append(f"logits: {s.precision} logits kept whole, fp32 upcast for 1 of {CE_CHUNKS} chunks at a time")
    else:
        logits = float(s.micro_batch_size) * s.sequence_len * sh.h * 4 * CHUNK_FP32_COPIES
        notes.append("logits: fused linear cross-entropy never materialises b*s*vocab (one hidden-sized fp32 chunk)")
        return logits
    if _softcapped_attention(f.model) and f.cb < 4:
        # Gemma-2 final_logit_softcapping: logits/cap -> tanh -> *cap before the loss; tanh saves its output
        logits += n_logits * f.cb
        notes.append("logits: Gemma-2 final-logit soft-capping saves the tanh output (one more compute-dtype copy)")
    return logits


def activations_bytes(f: _Frame, logits: float, notes: list[str]) -> float:
    """Saved activations: checkpointed layer inputs + one recomputed layer, or every layer's saved tensors."""
    s, sh = f.setup, f.sh
    lora_in = lora_input_width(f.model, s.lora_targets) if s.method != "full" else 0
    layer = layer_activation_bytes(
        f.model, s.sequence_len, s.micro_batch_size, f.cb, s.flash_attention, lora_in, s.lora_dropout, s.fused_norm
    )
    if s.method != "full" and s.lora_dropout > 0:
        notes.append(
            f"LoRA dropout {s.lora_dropout:g}: each adapted module's input is saved once more as its dropped-out "
            f"copy + a 1-byte mask ({lora_in:,} elements per token per layer)"
        )
    if s.gradient_checkpointing:
        # Backward starts at the loss (logits peak); the layers are recomputed one by one after the
        # logits are freed, so the two peaks do not coincide: the recompute buffer counts only
        # where it exceeds the logits buffer (peak = checkpoints + max(layer, logits)).
        checkpoints = sh.layers * 2 * s.sequence_len * s.micro_batch_size * sh.h * (f.cb / 2)
        head = (
            "activations with gradient checkpointing: 2*s*b*h bytes per layer (checkpointed layer inputs) "
            f"+ one layer recomputed in full (Korthikanti 2022, arXiv:2205.05198) of {layer / GIB:.2f} GiB"
        )
        # Where the recomputed layer finds its memory. In one process it reuses what the logits'
        # buffers free: fms-acceleration's Mistral-7B and Mixtral LoRA/QLoRA rows on one A100 grow by
        # 2.56 GiB per 4096-token sample, 2.47 estimated with reuse. In runs of several processes it
        # does not: the same source's FSDP rows on 2 GPUs grow by 2.94-3.08 GiB per sample (Mistral-7B)
        # and 3.17-3.48 (Mixtral), against 2.47 with reuse and 3.20 / 3.76 without; Answer.AI's DDP
        # rows (their own training loop, not HF Trainer) read 22 % above the estimate with reuse and
        # within 5 % without. Cause not isolated (no multi-GPU machine here; modelled from those
        # published measurements, benchmarks/data/measured.yaml): with world_size > 1 the layer counts
        # on top of the logits, which reads 4-16 % high per sample on these rows (the safe side).
        if s.world_size > 1:
            notes.append(
                f"{head}, counted on top of the logits: runs of several processes (published FSDP and DDP "
                "measurements) grow per sample as if it did not reuse the logits' memory"
            )
            activations = checkpoints + layer
        else:
            notes.append(f"{head}; in one process it reuses the memory the logits free: only its excess counts")
            activations = checkpoints + max(0.0, layer - logits)
    else:
        activations = sh.layers * layer
        notes.append(
            "activations without recompute: per layer 2h fp32 (RMSNorm inputs) + s*b*(h+2hkv+3hq + h+4i) "
            "elements (Korthikanti 2022 adapted to GQA and gated MLPs), all alive at the loss"
        )
    if not s.flash_attention:
        notes.append(
            "no flash attention (eager): + a*s^2*b scores per materialised layer, saved as fp32 softmax "
            "+ its compute-dtype cast" + (" + the soft-capping tanh output" if _softcapped_attention(f.model) else "")
        )
    return activations


def reference_bytes(f: _Frame, notes: list[str]) -> float:
    """A frozen reference copy for preference training (full fine-tunes only; LoRA disables the adapters)."""
    s = f.setup
    if not s.reference_model:
        return 0.0
    if s.method == "full":
        notes.append("reference model: a frozen 16-bit copy of the weights, no gradients (preference training)")
        return 0.0 if f.offload else f.n_total * f.cb / f.weight_div
    notes.append("reference model: with LoRA the base with adapters disabled serves as reference (no copy)")
    return 0.0


def _phases(f: _Frame, gradients: float, activations: float, logits: float, notes: list[str]) -> tuple[float, float]:
    """Without accumulation on one unsharded GPU the activation/logits peak and the gradient peak do not coincide."""
    s = f.setup
    fsdp = s.sharding == "fsdp"
    if s.gradient_accumulation_steps == 1 and (f.single or fsdp) and not s.optimizer_in_backward and gradients > 0:
        # Activations and logits peak when backward starts, before any gradient exists (the Trainer
        # zeroes gradients to None after each step); gradients peak when backward ends, after the
        # activations are freed. Only what the larger phase holds beyond the smaller one counts,
        # taken from the logits first, then the activations. One process, or FSDP (its gradient
        # shards are .grad tensors freed by zero_grad too: fms-acceleration's Mistral-7B full
        # fine-tune on 2 GPUs peaks at 34.24 GiB at micro batch 2 and 4 alike). DDP buckets and
        # DeepSpeed's ZeRO gradient partitions are persistent buffers, alive in both phases.
        overlap = min(gradients, activations + logits)
        from_logits = min(logits, overlap)
        notes.append(
            f"no gradient accumulation: the activation/logits peak (start of backward) and the gradient peak (end "
            f"of backward) do not coincide; {overlap / GIB:.2f} GiB they share is counted once, under gradients"
        )
        return activations - (overlap - from_logits), logits - from_logits
    if s.gradient_accumulation_steps is None and s.method == "full":
        notes.append("gradient accumulation assumed: gradients stay alive through the next forward and add up")
    return activations, logits


def optimizer_step_bytes(f: _Frame, trainable: int) -> float:
    """Temporaries of the optimizer step (see _STEP_TEMP_STATES), alive when the activations are freed."""
    n = _STEP_TEMP_STATES.get(f.setup.optimizer, 0)
    if not n or f.offload or f.setup.optimizer_in_backward:
        return 0.0
    return n * trainable * DTYPE_BYTES[f.master] / f.opt_div


def fragmentation_share(setup: TrainSetup) -> float:
    """Reserved-but-unallocated share of the caching allocator for this kind of run (see FRAGMENTATION*)."""
    if setup.sharding in _ZERO and setup.world_size > 1:
        return FRAGMENTATION_SHARDED
    return FRAGMENTATION


def overhead_bytes(f: _Frame, allocated: float, optimizer: float, notes: list[str]) -> float:
    """CUDA context + the caching allocator's fragmentation on what passes through it."""
    s = f.setup
    if s.optimizer.startswith("paged"):
        allocated -= optimizer  # unified memory is outside the caching allocator: no fragmentation
    frag = fragmentation_share(s)
    notes.append(
        f"overhead: CUDA context/kernels {CUDA_CONTEXT_GIB:.2f} GiB (HF model_memory_anatomy ~1.3 GB) "
        f"+ {frag:.0%} allocator fragmentation (reserved/allocated measured for this kind of run)"
    )
    return CUDA_CONTEXT_GIB * GIB + frag * allocated


def load_peak_bytes(f: _Frame) -> float:
    """Peak while loading a quantised model: the weights quantised so far + one largest matrix in 16-bit
    (transformers moves each tensor to the GPU in the load dtype before bitsandbytes quantises it) +
    its fp32 absmax/quantile scratch, and the CUDA context. 0 for a model that is not quantised."""
    if f.bits is None:
        return 0.0
    w = weights_bytes(f, [])
    return CUDA_CONTEXT_GIB * GIB + w + f.sh.largest_matrix * (f.cb + 4)


def estimate(model: ModelCard, setup: TrainSetup) -> MemoryEstimate:
    """Estimate per-GPU memory of training `model` with `setup`, component by component."""
    _check(setup)
    f = _frame(model, setup)
    notes: list[str] = []
    if setup.sharding not in (*UNSHARDED, "zero3_offload") and setup.world_size == 1:
        notes.append(
            f"{setup.sharding} on one GPU shards nothing (world_size 1); the engine's byte accounting still applies"
        )
    weights = weights_bytes(f, notes)
    trainable = trainable_params(f, notes)
    lora_adapters = adapter_bytes(f, trainable, notes)
    gradients = gradients_bytes(f, trainable, notes)
    optimizer = optimizer_bytes(f, trainable, notes)
    logits = logits_bytes(f, notes)
    activations = activations_bytes(f, logits, notes)
    reference = reference_bytes(f, notes)
    activations, logits = _phases(f, gradients, activations, logits, notes)
    step = optimizer_step_bytes(f, trainable)
    optimizer_step = max(0.0, step - activations - logits)
    if optimizer_step > 0:
        # the step runs after backward: its temporaries reuse what the activations and logits freed
        notes.append(
            f"{setup.optimizer} step (foreach): a {step / GIB:.2f} GiB temporary the size of the trainable "
            f"parameters outlasts the freed activations and logits by {optimizer_step / GIB:.2f} GiB"
        )
    allocated = weights + lora_adapters + gradients + optimizer + optimizer_step + activations + logits + reference
    overhead = overhead_bytes(f, allocated, optimizer, notes)
    comps = {
        "weights": weights,
        "lora_adapters": lora_adapters,
        "gradients": gradients,
        "optimizer": optimizer,
        "optimizer_step": optimizer_step,
        "activations": activations,
        "logits": logits,
        "reference_model": reference,
        "overhead": overhead,
    }
    comps = {k: comps[k] / GIB for k in COMPONENTS}
    total = sum(comps.values())
    load = load_peak_bytes(f) / GIB
    if load > total:
        notes.append(
            f"loading peak {load:.2f} GiB (quantising weights one at a time) exceeds the training step; "
            "the total is the loading peak"
        )
        comps["overhead"] += load - total
        total = load
    band = error_band(setup)
    notes.append(
        f"error band: published measured peaks of comparable runs ({'one GPU' if setup.world_size == 1 else 'several GPUs'}) "
        f"land within {band[0]:+.0%} .. {band[1]:+.0%} of the estimate 8 times in 10 "
        f"(benchmarks/memory_published.py); plans fill at most {fit_margin(setup):.0%} of the GPU"
    )
    return MemoryEstimate(
        components=comps,
        total_gb=total,
        trainable_params=int(trainable),
        notes=tuple(notes),
        band=band,
        fit_margin=fit_margin(setup),
    )


def allocator_visible_gb(est: MemoryEstimate, setup: TrainSetup) -> float:
    """What torch.cuda's peak statistics would show: the total minus the CUDA context and
    minus paged (unified-memory) optimizer states, which the caching allocator never sees."""
    gb = est.total_gb - CUDA_CONTEXT_GIB
    if setup.optimizer.startswith("paged"):
        gb -= est.components["optimizer"]
    return gb


def max_micro_batch(
    model: ModelCard, setup: TrainSetup, vram_gb: float, safety: float | None = None, cap: int = 64
) -> int:
    """Largest micro batch (<= cap) whose estimated total fits in vram_gb * safety (fit_margin(setup) by
    default); 0 if 1 does not fit."""
    budget = vram_gb * (fit_margin(setup) if safety is None else safety)
    best = 0
    for mbs in range(1, cap + 1):  # memory grows monotonically with the micro batch
        if estimate(model, replace(setup, micro_batch_size=mbs)).total_gb > budget:
            break
        best = mbs
    return best
