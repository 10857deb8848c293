"""Ground truth for the GRPO generation-time assumption (generator/throughput.py DECODE_SECONDS_PER_LAYER).

GRPO samples every completion with the training model's `generate` (use_vllm false, FT176). ftgen assumes each
decode step costs DECODE_SECONDS_PER_LAYER per layer at the small batches RL uses. This script times
transformers' `generate` on a random-initialised model of a real shape (nothing downloaded) and prints the
measured seconds per decode step and per layer beside the assumption.

Run it with a Python that has torch and transformers (a framework env, or a GPU machine's own):

    ~/.cache/ftgen/envs/llamafactory-0.9.5-cpu/bin/python benchmarks/grpo_generation.py --tiny      # CPU sanity
    python benchmarks/grpo_generation.py --out /tmp/grpo.json                                      # on a GPU

exit status: 0 when it measured, 2 when torch or transformers is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Qwen2.5-1.5B-Instruct's config.json shapes (the math-grpo example's model); --tiny shrinks them for a CPU.
SHAPES = {
    "qwen2.5-1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
    ),
}


def _assumed() -> float:
    sys.path.insert(0, str(ROOT))
    try:
        from generator.throughput import DECODE_SECONDS_PER_LAYER

        return DECODE_SECONDS_PER_LAYER
    except ImportError:  # ftgen's dependencies are not in this Python: read the constant from the source
        for line in (ROOT / "generator" / "throughput.py").read_text().splitlines():
            if line.startswith("DECODE_SECONDS_PER_LAYER"):
                return float(line.split("=", 1)[1])
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model (CPU sanity run)")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 16, 32], help="completions generated at once")
    ap.add_argument("--prompt", type=int, default=256, help="prompt tokens")
    ap.add_argument("--new", type=int, default=128, help="tokens generated per completion")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    try:
        import torch
        from transformers import Qwen2Config, Qwen2ForCausalLM
    except ImportError as exc:
        print(f"needs torch and transformers: {exc}", file=sys.stderr)
        return 2
    shape = "tiny" if args.tiny else "qwen2.5-1.5b"
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    torch.manual_seed(0)
    cfg = Qwen2Config(**SHAPES[shape], max_position_embeddings=max(4096, args.prompt + args.new + 8))
    model = Qwen2ForCausalLM(cfg).to(device=device, dtype=dtype).eval()
    layers = cfg.num_hidden_layers
    assumed = _assumed()
    rows = []
    for batch in args.batch:
        ids = torch.randint(3, cfg.vocab_size, (batch, args.prompt), device=device)
        kw = dict(max_new_tokens=args.new, min_new_tokens=args.new, do_sample=True, top_k=0, pad_token_id=0)
        with torch.no_grad():
            model.generate(ids, **{**kw, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
            if cuda:
                torch.cuda.synchronize()
            began = time.perf_counter()
            model.generate(ids, **kw)
            if cuda:
                torch.cuda.synchronize()
        seconds = time.perf_counter() - began
        step = seconds / args.new
        rows.append(
            {
                "shape": shape,
                "device": torch.cuda.get_device_name() if cuda else "cpu",
                "batch": batch,
                "prompt": args.prompt,
                "new_tokens": args.new,
                "seconds": round(seconds, 3),
                "seconds_per_step": round(step, 5),
                "seconds_per_layer_step": round(step / layers, 6),
                "assumed_per_layer_step": assumed,
                "ratio_measured_to_assumed": round(step / layers / assumed, 2),
            }
        )
    print(f"{'batch':>5} {'s/step':>9} {'s/layer-step':>13} {'assumed':>9} {'measured/assumed':>17}")
    for r in rows:
        print(
            f"{r['batch']:>5} {r['seconds_per_step']:>9.4f} {r['seconds_per_layer_step']:>13.6f} "
            f"{r['assumed_per_layer_step']:>9.6f} {r['ratio_measured_to_assumed']:>17.2f}"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
