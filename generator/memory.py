"""Per-component GPU memory estimate of a fine-tuning setup: weights, adapters, gradients, optimizer, activations."""

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
#: management" notes). Typical reserved/allocated gaps in fine-tuning logs are 5-15 %; 5 % chosen.
FRAGMENTATION = 0.05

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
_INT8_STATE_BYTES = 1 + 4 / 256  # one int8 + its share of a fp32 block absmax

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


@dataclass(frozen=True)
class MemoryEstimate:
    """GPU memory per GPU, by component (GiB), for one model and setup."""

    components: dict[str, float]  # GiB per GPU, ordered as COMPONENTS
    total_gb: float  # GiB per GPU (sum of components)
    trainable_params: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "unit": "GiB",
            "components": {k: round(v, 2) for k, v in self.components.items()},
            "total_gb": round(self.total_gb, 2),
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


def layer_activation_bytes(model: ModelCard, seq: int, batch: int, act_bytes: int, flash: bool) -> float:
    """Bytes one decoder layer saves for backward without recompute.

    Korthikanti et al. 2022 (arXiv:2205.05198, sec. 4.1) count s*b*h*(34 + 5*a*s/h) bytes for a
    GPT layer in 16-bit: norms 4sbh, attention 11sbh + 5as^2b, MLP 19sbh (incl. 2 dropout masks).
    Adapted here to LLaMA-style layers, element by element (x 2 bytes in 16-bit):
      norms      2h            the two RMSNorm inputs
      attention  h + 2hq + 2hkv  QKV input, Q, K, V (GQA: hkv = kv_heads*head_dim), attention output
      MLP        h + 4i        gated MLP: input, gate out, act(gate), up out, product (SwiGLU/GeGLU);
                 h + 2i        a plain MLP (phi, falcon, gpt_neox): input, fc1 out, act(fc1 out)
      MoE MLP    h + E + k(2h + 4i_e)  router logits, per chosen expert its input, 4 intermediates, output
    no dropout masks (fine-tuning runs with dropout 0). Without flash attention the a x s x s
    scores are materialised. Korthikanti counts 5 bytes per score element in 16-bit (softmax output,
    dropout mask, dropout output); transformers' eager attention instead saves the softmax output in
    fp32 (softmax(..., dtype=float32)) plus its cast to the compute dtype for the PV matmul, and at
    dropout 0 no mask or dropout output: 4 + 2 bytes per element in 16-bit, 4 in fp32 (the cast is
    a no-op). Checked against the CPU allocator by benchmarks/memory_measured.py.
    """
    sh = shapes(model)
    elems = 2 * sh.h + (sh.h + 2 * sh.hq + 2 * sh.hkv)
    mlp_inner = 4 if sh.mlp_mats == 3 else 2  # gated: gate, act(gate), up, product; plain: fc1 out, act(fc1)
    if sh.experts:
        elems += sh.h + sh.experts + sh.top_k * (2 * sh.h + mlp_inner * sh.moe_i)
    else:
        elems += sh.h + mlp_inner * sh.i
    total = float(seq) * batch * elems * act_bytes
    if not flash:
        total += float(model.heads) * seq * seq * batch * (4 + (act_bytes if act_bytes < 4 else 0))
    return total


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


# ----------------------------------------------------------------------------- the estimate


def estimate(model: ModelCard, setup: TrainSetup) -> MemoryEstimate:
    """Estimate per-GPU memory of training `model` with `setup`, component by component."""
    _check(setup)
    sh = shapes(model)
    notes: list[str] = []
    n_gpu = setup.world_size
    shard = setup.sharding
    if shard not in (*UNSHARDED, "zero3_offload") and n_gpu == 1:
        notes.append(f"{shard} on one GPU shards nothing (world_size 1); the engine's byte accounting still applies")
    opt_div = n_gpu if shard in _ZERO else 1
    grad_div = n_gpu if shard in ("zero2", "zero3", "zero3_offload", "fsdp") else 1
    weight_div = n_gpu if shard in ("zero3", "fsdp") else 1
    offload = shard == "zero3_offload"

    compute = setup.precision
    cb = DTYPE_BYTES[compute]  # compute dtype bytes (activations, 16-bit weights)
    master = _master_dtype(setup)
    mb = DTYPE_BYTES[master]
    quantizable, kept = param_split(model)
    n_total = quantizable + kept
    deepspeed_master = setup.method == "full" and shard in _ZERO and master == "fp32" and compute != "fp32"
    s, b = setup.sequence_len, setup.micro_batch_size
    unit = max(sh.layer_linear_params + 2 * sh.h, sh.embed_params)  # largest gathered unit (ZeRO-3/FSDP)

    # --- weights ---------------------------------------------------------------------------
    bits = setup.quant_bits if setup.quant_bits is not None else (4 if setup.method == "qlora" else None)
    if setup.method == "qlora" and setup.quant_bits is None:
        notes.append("qlora without quant_bits: 4-bit NF4 assumed")
    if bits == 4:
        const = NF4_CONST_BITS_DOUBLE if setup.double_quant else NF4_CONST_BITS
        q_bytes = quantizable * (NF4_BITS + const) / 8
        weights = q_bytes + kept * cb
        notes.append(
            f"weights NF4: {NF4_BITS + const:.3f} bits/param ({'with' if setup.double_quant else 'without'} "
            "double quantization, QLoRA arXiv:2305.14314); embeddings, lm_head and norms stay "
            f"{compute} ({kept / 1e9:.2f}B params)"
        )
    elif bits == 8:
        q_bytes = quantizable * INT8_BYTES + sh.layers * 4 * (2 * sh.h + sh.hq + 2 * sh.hkv + 2 * sh.i)
        weights = q_bytes + kept * cb
        notes.append(
            "weights LLM.int8: 1 byte/param + fp32 row scales (arXiv:2208.07339); embeddings, lm_head, norms 16-bit"
        )
    elif setup.method == "full" and master == "fp32" and compute != "fp32" and not deepspeed_master:
        # AMP with fp32 parameters: autocast caches a 16-bit copy of every weight for the forward
        # (HF "Model training anatomy": 4 + 2 = 6 bytes/param for mixed-precision weights)
        weights = n_total * (4 + cb)
        notes.append(
            "full fine-tune, fp32 weights + AMP: 6 bytes/param "
            "(fp32 params + 16-bit autocast copies, HF model_memory_anatomy)"
        )
    else:
        weights = n_total * cb
    if bits is not None:
        # bitsandbytes dequantizes one weight at a time to the compute dtype and frees it after
        # the matmul: one largest matrix of transient buffer
        weights += sh.largest_matrix * cb
    weights /= weight_div
    if offload:
        weights = GATHERED_UNITS * unit * cb
        notes.append(
            f"zero3_offload: parameters and optimizer live in CPU RAM (~{(n_total * (cb + 12)) / GIB:.0f} GiB "
            "host memory across ranks); the GPU holds the gathered working set only"
        )
    elif weight_div > 1:
        weights += GATHERED_UNITS * unit * cb
        notes.append(f"{shard}: weights sharded over {n_gpu} GPUs + {GATHERED_UNITS} gathered layer(s) in flight")

    # --- trainable parameters, adapters ---------------------------------------------------------
    lora_adapters = 0.0
    if setup.method == "full":
        trainable = n_total
    else:
        trainable = lora_trainable_params(model, setup.lora_rank, setup.lora_targets)
        if setup.trainable_embeddings:
            emb = sh.embed_params * (1 if model.tie_embeddings else 2)
            trainable += emb
            notes.append(
                f"trainable embeddings: PEFT modules_to_save copies embed_tokens/lm_head "
                f"({emb / 1e9:.2f}B params, {master})"
            )
        lora_adapters = trainable * mb / (weight_div if not offload else 1)
        notes.append(
            f"LoRA r={setup.lora_rank}: {trainable:,} trainable params held in {master} "
            "(PEFT autocast_adapter_dtype / LLaMA-Factory upcast)"
        )

    # --- gradients ------------------------------------------------------------------------------
    grad_dtype_bytes = cb if deepspeed_master else mb
    if setup.optimizer_in_backward:
        largest = max(sh.embed_params, sh.largest_matrix) if setup.method == "full" else 0
        gradients = largest * grad_dtype_bytes
        notes.append(
            "optimizer step fused into backward (torchtune optimizer_in_bwd): only the gradient being produced is alive"
        )
    elif offload:
        # ZeRO-Offload moves gradient partitions to the CPU optimizer; the GPU holds the
        # gradients of the layer being reduced
        per_layer = sh.layer_linear_params if setup.method == "full" else trainable / sh.layers
        gradients = per_layer * grad_dtype_bytes
    else:
        gradients = trainable * grad_dtype_bytes / grad_div
        if grad_div > 1:
            # the gradients of the layer being reduced are whole before reduce-scatter
            gradients += (sh.layer_linear_params if setup.method == "full" else 0) * grad_dtype_bytes
        if shard in UNSHARDED and n_gpu > 1 and setup.method == "full":
            # torch DDP copies gradients into flat all-reduce buckets unless gradient_as_bucket_view=True
            # (PyTorch DistributedDataParallel docs): a second gradient-sized buffer
            gradients *= 2
            notes.append("DDP: gradient buckets double gradient memory (gradient_as_bucket_view is off by default)")

    # --- optimizer ------------------------------------------------------------------------------
    opt_per_param = _opt_bytes_per_param(setup, master, sh.h)
    if deepspeed_master:
        opt_per_param += 4  # fp32 master copy lives in the ZeRO optimizer partition
        notes.append(
            f"{shard}: mixed-precision ZeRO accounting, 2 (16-bit params) + 2 (grads) + "
            f"{opt_per_param:.0f} (fp32 master + states) bytes/param (Rajbhandari et al. 2020, arXiv:1910.02054)"
        )
    optimizer = trainable * opt_per_param / opt_div
    if offload:
        optimizer = 0.0
    if setup.optimizer.startswith("paged"):
        notes.append(
            f"{setup.optimizer}: {optimizer / GIB:.2f} GiB of states in CUDA unified memory; they can spill to "
            "CPU RAM under pressure (counted in full here) and are invisible to torch.cuda memory statistics"
        )
    pure_half = setup.method == "full" and master == compute != "fp32"
    if pure_half and setup.optimizer.startswith("adamw_torch"):
        notes.append(
            f"full fine-tune in pure {compute}: torch AdamW keeps its moments in the parameter dtype "
            f"(2 + 2 + 4 = 8 bytes/param); an fp32 master (LLaMA-Factory without pure_bf16) costs 18"
        )

    # --- logits ---------------------------------------------------------------------------------
    n_logits = float(b) * s * sh.vocab
    if setup.cross_entropy == "standard":
        logits = n_logits * 4 * LOGITS_FP32_COPIES
        notes.append(
            f"logits: b*s*vocab in fp32 x {LOGITS_FP32_COPIES} (HF loss upcasts logits; log-softmax backward holds "
            "its saved output, the incoming and the outgoing gradient)"
        )
    elif setup.cross_entropy == "chunked":
        logits = n_logits * cb + n_logits / CE_CHUNKS * 4 * CHUNK_FP32_COPIES
        notes.append(f"logits: {compute} logits kept whole, fp32 upcast for 1 of {CE_CHUNKS} chunks at a time")
    else:
        logits = float(b) * s * sh.h * 4 * CHUNK_FP32_COPIES
        notes.append("logits: fused linear cross-entropy never materialises b*s*vocab (one hidden-sized fp32 chunk)")

    # --- activations ----------------------------------------------------------------------------
    layer = layer_activation_bytes(model, s, b, cb, setup.flash_attention)
    if setup.gradient_checkpointing:
        # Backward starts at the loss (logits peak); the layers are recomputed one by one after the
        # logits are freed, so the two peaks do not coincide: the recompute buffer counts only
        # where it exceeds the logits buffer (peak = checkpoints + max(layer, logits)).
        checkpoints = sh.layers * 2 * s * b * sh.h * (cb / 2)
        activations = checkpoints + max(0.0, layer - logits)
        notes.append(
            "activations with gradient checkpointing: 2*s*b*h bytes per layer (checkpointed layer inputs) "
            f"+ one layer recomputed in full (Korthikanti 2022, arXiv:2205.05198); its {layer / GIB:.2f} GiB "
            "reuse the memory the logits free, so only the excess over the logits is counted"
        )
    else:
        activations = sh.layers * layer
        notes.append(
            "activations without recompute: s*b*(2h + h+2hq+2hkv + h+4i) elements per layer "
            "(Korthikanti 2022 adapted to GQA and gated MLPs), all alive at the loss"
        )
    if not setup.flash_attention:
        notes.append(
            "no flash attention (eager): + a*s^2*b scores per materialised layer, saved as fp32 softmax "
            "+ its compute-dtype cast"
        )

    # --- reference model ------------------------------------------------------------------------
    reference = 0.0
    if setup.reference_model:
        if setup.method == "full":
            reference = 0.0 if offload else n_total * cb / weight_div
            notes.append("reference model: a frozen 16-bit copy of the weights, no gradients (preference training)")
        else:
            notes.append("reference model: with LoRA the base with adapters disabled serves as reference (no copy)")

    # --- phases -------------------------------------------------------------------------------
    single = n_gpu == 1 and shard in UNSHARDED
    if setup.gradient_accumulation_steps == 1 and single and not setup.optimizer_in_backward and gradients > 0:
        # Activations and logits peak when backward starts, before any gradient exists (the Trainer
        # zeroes gradients to None after each step); gradients peak when backward ends, after the
        # activations are freed. Only what the larger phase holds beyond the smaller one counts,
        # taken from the logits first, then the activations. One process only: DDP buckets and the
        # ZeRO/FSDP gradient partitions are persistent buffers, alive in both phases.
        overlap = min(gradients, activations + logits)
        from_logits = min(logits, overlap)
        logits -= from_logits
        activations -= overlap - from_logits
        notes.append(
            f"no gradient accumulation: the activation/logits peak (start of backward) and the gradient peak (end "
            f"of backward) do not coincide; {overlap / GIB:.2f} GiB they share is counted once, under gradients"
        )
    elif setup.gradient_accumulation_steps is None and setup.method == "full":
        notes.append("gradient accumulation assumed: gradients stay alive through the next forward and add up")

    # --- overhead -------------------------------------------------------------------------------
    allocated = weights + lora_adapters + gradients + optimizer + activations + logits + reference
    if setup.optimizer.startswith("paged"):
        allocated -= optimizer  # unified memory is outside the caching allocator: no fragmentation
    overhead = CUDA_CONTEXT_GIB * GIB + FRAGMENTATION * allocated
    notes.append(
        f"overhead: CUDA context/kernels {CUDA_CONTEXT_GIB:.2f} GiB (HF model_memory_anatomy ~1.3 GB) "
        f"+ {FRAGMENTATION:.0%} allocator fragmentation"
    )

    comps = {
        "weights": weights,
        "lora_adapters": lora_adapters,
        "gradients": gradients,
        "optimizer": optimizer,
        "activations": activations,
        "logits": logits,
        "reference_model": reference,
        "overhead": overhead,
    }
    comps = {k: comps[k] / GIB for k in COMPONENTS}
    return MemoryEstimate(
        components=comps,
        total_gb=sum(comps.values()),
        trainable_params=int(trainable),
        notes=tuple(notes),
    )


def allocator_visible_gb(est: MemoryEstimate, setup: TrainSetup) -> float:
    """What torch.cuda's peak statistics would show: the total minus the CUDA context and
    minus paged (unified-memory) optimizer states, which the caching allocator never sees."""
    gb = est.total_gb - CUDA_CONTEXT_GIB
    if setup.optimizer.startswith("paged"):
        gb -= est.components["optimizer"]
    return gb


def max_micro_batch(model: ModelCard, setup: TrainSetup, vram_gb: float, safety: float = 0.9, cap: int = 64) -> int:
    """Largest micro batch (<= cap) whose estimated total fits in vram_gb * safety; 0 if 1 does not fit."""
    budget = vram_gb * safety
    best = 0
    for mbs in range(1, cap + 1):  # memory grows monotonically with the micro batch
        if estimate(model, replace(setup, micro_batch_size=mbs)).total_gb > budget:
            break
        best = mbs
    return best
