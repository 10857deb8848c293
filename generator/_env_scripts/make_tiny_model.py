"""Create a tiny random-initialised Llama and a locally trained BPE tokenizer (runs inside a framework env).

Usage: python make_tiny_model.py OUT_DIR [--data FILE.jsonl ...] [--hidden 64] [--layers 2] [--heads 4]
       [--vocab 600] [--seed 0]
Prints one JSON object on stdout: {"path", "params", "vocab"}. Nothing is downloaded.
"""

import argparse
import json
import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token + '\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}"
)
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def _texts(files):
    for f in files:
        for line in Path(f).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            for value in row.values() if isinstance(row, dict) else []:
                if isinstance(value, str):
                    yield value
                elif isinstance(value, list):
                    for item in value:
                        if isinstance(item, dict):
                            yield " ".join(str(v) for v in item.values())
                        else:
                            yield str(item)
    # cover the prompt scaffolding of common templates so they tokenise compactly
    yield "User: Assistant: Human: ### Instruction: ### Input: ### Response: Below is an instruction"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--data", nargs="*", default=[])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=600)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    existing = out / "config.json"
    kept = existing.read_text(encoding="utf-8") if existing.is_file() else None
    if kept is not None:  # keep a committed shape: fill in weights and tokenizer around it
        shape = json.loads(kept)
        args.hidden = shape.get("hidden_size", args.hidden)
        args.layers = shape.get("num_hidden_layers", args.layers)
        args.heads = shape.get("num_attention_heads", args.heads)
        args.vocab = shape.get("vocab_size", args.vocab)
        args.context = shape.get("max_position_embeddings", args.context)

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(args.seed)
    out.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_texts(args.data)) or ["hello world"], trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=args.context,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    config = LlamaConfig(
        vocab_size=max(args.vocab, len(fast)),
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 2,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.context,
        tie_word_embeddings=False,
        # 10x the default 0.02: with hidden 64 a default-initialised lm_head spreads logits by only ~±1.3, so
        # LoRA (which leaves lm_head frozen) could never make one answer win; only the weights' scale changes
        initializer_range=0.2,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    if kept is not None:
        existing.write_text(kept, encoding="utf-8")  # the committed file stays byte-identical
    params = sum(p.numel() for p in model.parameters())
    json.dump({"path": str(out.resolve()), "params": params, "vocab": len(fast)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
