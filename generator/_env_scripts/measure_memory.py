"""Measure the peak memory of a few training steps of a random-initialised Llama (runs inside a framework env).

Usage: python measure_memory.py < case.json
The case (one JSON object on stdin) names the model shape and the training setup:
  {"model": {"hidden", "layers", "heads", "kv_heads", "intermediate", "vocab", "tie", "head_dim"?},
   "method": "full|lora|qlora", "precision": "fp32|bf16", "micro_batch_size", "sequence_len",
   "gradient_checkpointing", "flash_attention", "optimizer", "lora_rank", "lora_targets",
   "double_quant", "lora_dropout"?, "steps", "device": "cpu|cuda", "seed", "workdir", "cache"?}
("lora_dropout": PEFT's dropout on the adapter path, default 0.05 as ftgen plans it; the loss is the one ftgen
configures, transformers' own causal-LM loss from the labels.)
("cache": a folder kept between cases for the random models QLoRA saves before quantising them.)
Prints one JSON object on stdout with the measured peaks (bytes). Nothing is downloaded.

What is measured, by device:
  cpu   torch's CPU allocator, through the profiler's memory events ("Total Allocated": bytes allocated
        since profiling began and still alive). Profiling begins before the model is built, so the
        weights count. The peak inside trainer.train() is `train_peak_allocated`.
  cuda  torch.cuda.max_memory_allocated / max_memory_reserved over trainer.train(), and the device
        memory in use beyond the allocator (CUDA context, cuBLAS workspaces, bitsandbytes paged memory)
        from torch.cuda.mem_get_info sampled at the end of training.
The training is what both frameworks run underneath: transformers' Trainer, PEFT LoRA, the same
optimizer names, gradient checkpointing through Trainer, SDPA (flash) or eager attention.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

#: ftgen optimizer names -> transformers TrainingArguments.optim
OPTIM = {
    "adamw_torch": "adamw_torch",
    "adamw_torch_fused": "adamw_torch_fused",
    "adamw_8bit": "adamw_bnb_8bit",
    "paged_adamw_8bit": "paged_adamw_8bit",
    "paged_adamw_32bit": "paged_adamw_32bit",
    "sgd": "sgd",
    "adafactor": "adafactor",
}


def _config(case, attn):
    from transformers import LlamaConfig

    m = case["model"]
    kw = dict(
        vocab_size=m["vocab"],
        hidden_size=m["hidden"],
        intermediate_size=m["intermediate"],
        num_hidden_layers=m["layers"],
        num_attention_heads=m["heads"],
        num_key_value_heads=m["kv_heads"],
        max_position_embeddings=max(case["sequence_len"], 128),
        tie_word_embeddings=bool(m.get("tie")),
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    if m.get("head_dim"):
        kw["head_dim"] = m["head_dim"]
    cfg = LlamaConfig(**kw)
    cfg._attn_implementation = attn
    return cfg


def _dataset(case):
    import torch

    g = torch.Generator().manual_seed(case.get("seed", 0))
    n = case["micro_batch_size"] * (case["steps"] + 1)
    ids = torch.randint(3, case["model"]["vocab"], (n, case["sequence_len"]), generator=g)

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            row = ids[i]
            return {"input_ids": row, "attention_mask": torch.ones_like(row), "labels": row.clone()}

    return Rows()


def _saved_random_model(case, dtype, device, attn, workdir):
    """The folder of a saved random model of the case's shape (written once; QLoRA quantises at load time)."""
    import torch
    from transformers import AutoModelForCausalLM

    key = "-".join(f"{k}{v}" for k, v in sorted(case["model"].items()) if v is not None)
    path = Path(case.get("cache") or workdir) / f"random-{key}-{case['precision']}"
    if not (path / "config.json").is_file():
        torch.manual_seed(case.get("seed", 0))
        with torch.device(device):
            base = AutoModelForCausalLM.from_config(_config(case, attn), dtype=dtype)
        base.save_pretrained(path, safe_serialization=True)
        del base
        if device == "cuda":
            torch.cuda.empty_cache()  # or the freed random weights stay reserved through training
    return path


def _build(case, dtype, device, attn, workdir):
    """The model as the frameworks hold it for training: full, LoRA on a frozen base, or LoRA on NF4."""
    import torch
    from transformers import AutoModelForCausalLM

    if case["method"] == "qlora":
        from transformers import BitsAndBytesConfig

        path = _saved_random_model(case, dtype, device, attn, workdir)
        model = AutoModelForCausalLM.from_pretrained(
            path,
            attn_implementation=attn,
            dtype=dtype,
            device_map={"": 0 if device == "cuda" else "cpu"},
            quantization_config=BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=dtype,
                bnb_4bit_use_double_quant=bool(case.get("double_quant", True)),
                bnb_4bit_quant_storage=torch.uint8,
            ),
        )
        if device == "cpu":
            # safetensors maps the unquantised tensors (embeddings, lm_head, norms) from the file: that
            # memory never passes torch's allocator, so the profiler would not see it. Copy them in.
            for param in model.parameters():
                if type(param).__name__ != "Params4bit":
                    param.data = param.data.clone()
    else:
        torch.manual_seed(case.get("seed", 0))
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(_config(case, attn), dtype=dtype, attn_implementation=attn)
    if case["method"] in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model

        # No peft.prepare_model_for_kbit_training: it upcasts embeddings and lm_head to fp32, which
        # LLaMA-Factory never does and Axolotl undoes (it converts them back to the compute dtype).
        lcfg = LoraConfig(
            r=case["lora_rank"],
            lora_alpha=2 * case["lora_rank"],
            lora_dropout=float(case.get("lora_dropout", 0.05)),
            target_modules=list(case["lora_targets"]),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lcfg)  # autocast_adapter_dtype=True: adapters in fp32
    return model


def _trainer(case, model, out_dir, device):
    from transformers import Trainer, TrainingArguments

    bf16 = case["precision"] == "bf16"
    args = TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=case["micro_batch_size"],
        max_steps=case["steps"],
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        warmup_steps=0,
        optim=OPTIM[case["optimizer"]],
        bf16=bf16,
        fp16=False,
        tf32=False if device == "cpu" else None,
        gradient_checkpointing=bool(case["gradient_checkpointing"]),
        gradient_checkpointing_kwargs={"use_reentrant": False},
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        use_cpu=device == "cpu",
        seed=case.get("seed", 0),
    )
    return Trainer(model=model, args=args, train_dataset=_dataset(case))


def _counts(model):
    import torch

    # a packed 4-bit weight stores two parameters per uint8 element
    total = sum(p.numel() * (2 if p.dtype == torch.uint8 else 1) for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def _cpu_peak(trace_file, window):
    """(overall peak, peak inside the window) of 'Total Allocated' over the profiler's memory events."""
    events = json.loads(Path(trace_file).read_text())["traceEvents"]
    start = end = None
    for e in events:
        if e.get("name") == window and e.get("ph") == "X":
            start, end = e["ts"], e["ts"] + e["dur"]
    overall = inside = 0
    before = after = 0
    for e in sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"]):
        args = e.get("args", {})
        if args.get("Device Type", 0) != 0:
            continue
        total = int(args.get("Total Allocated", 0))
        overall = max(overall, total)
        if start is None:
            continue
        if e["ts"] < start:
            before = total
        elif e["ts"] <= end:
            inside = max(inside, total)
            after = total
    return overall, inside, start is not None, before, after


def measure(case):
    import torch
    import transformers

    device = case.get("device", "cpu")
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[case["precision"]]
    attn = "sdpa" if case["flash_attention"] else "eager"
    if device == "cpu":
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)))
    transformers.logging.set_verbosity_error()
    workdir = Path(case.get("workdir") or tempfile.mkdtemp(prefix="ftgen-mem-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    out = {"device": device, "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft

        out["peft"] = peft.__version__
    except ImportError:
        pass

    if device == "cuda":
        torch.cuda.init()
        torch.empty(1, device="cuda")  # create the context
        free0, total_dev = torch.cuda.mem_get_info()
        model = _build(case, dtype, device, attn, workdir)
        trainer = _trainer(case, model, workdir / "out", device)
        torch.cuda.synchronize()
        torch.cuda.empty_cache()  # blocks cached while building the model are not training memory
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        trainer.train()
        torch.cuda.synchronize()
        after = torch.cuda.memory_allocated()
        free1, _ = torch.cuda.mem_get_info()
        reserved_now = torch.cuda.memory_reserved()
        out.update(
            {
                "train_peak_allocated": int(torch.cuda.max_memory_allocated()),
                "train_peak_reserved": int(torch.cuda.max_memory_reserved()),
                "allocated_before_train": int(before),
                "allocated_after_train": int(after),
                # device memory in use that the caching allocator does not hold: CUDA context, cuBLAS/cuDNN
                # workspaces, NCCL, bitsandbytes paged (unified) memory
                "outside_allocator": int((total_dev - free1) - reserved_now),
                "device_total": int(total_dev),
                "device_used_before_model": int(total_dev - free0),
                "gpu_name": torch.cuda.get_device_name(),
            }
        )
    else:
        from torch.profiler import ProfilerActivity, profile, record_function

        if case["method"] == "qlora":  # the saved random model is written before the measured window
            _saved_random_model(case, dtype, device, attn, workdir)
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            model = _build(case, dtype, device, attn, workdir)
            trainer = _trainer(case, model, workdir / "out", device)
            with record_function("ftgen::train"):
                trainer.train()
        trace = workdir / "trace.json"
        prof.export_chrome_trace(str(trace))
        overall, inside, found, before, after = _cpu_peak(trace, "ftgen::train")
        trace.unlink()
        if not found:
            raise SystemExit("the profiler trace has no ftgen::train window")
        out.update(
            {
                "peak_allocated": overall,
                "train_peak_allocated": inside,
                # the breakdown the allocator's timeline allows: what the model holds when training starts
                # (weights + adapters), what stays after the last step (+ optimizer states and gradients the
                # trainer keeps), and the step's transient peak on top of that (activations, logits, gradients
                # being produced, optimizer-step temporaries)
                "allocated_before_train": before,
                "allocated_after_train": after,
            }
        )
    params, trainable = _counts(model)
    loss = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    out.update(
        {
            "params": int(params),
            "trainable": int(trainable),
            "steps": trainer.state.global_step,
            "losses": loss,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    )
    return out


def main():
    case = json.loads(sys.stdin.read())
    result = measure(case)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
