"""Greedy answers to eval prompts from a base and/or fine-tuned model (runs inside a framework env).

Usage: python generate.py < job.json
The job (JSON on stdin):
  {"format": {"kind": "llamafactory", "template": "default"}        # LLaMA-Factory's own template code
             | {"kind": "alpaca", "prompt_style": null, "sequence_len": 2048}   # Axolotl `type: alpaca`
             | {"kind": "chat_template", "chat_template": "tokenizer_default", "jinja": null}
             | {"kind": "completion"},                              # the prompt text as is
   "rows": [{"prompt": "..."} | {"messages": [{"role", "content"}, ...]}],
   "models": [{"name": "base", "model": DIR_OR_HUB_ID, "adapter": DIR_OR_NULL, "tokenizer": DIR_OR_NULL}],
   "max_new_tokens": 64, "batch_size": 16, "out_dir": DIR, "device": "auto" | "cpu" | "cuda",
   "dry_run": false}
Writes OUT_DIR/<name>.generations.jsonl (one {"index", "prompt_text", "prediction"} per row, in row order) and
prints one JSON line at the end: {"outputs": {name: path}, "device", "dtype", "seconds"}. With "dry_run" it
loads only tokenizers and prints {"prompts": {name: [prompt text, ...]}, "prompt_ids": {...}}.
Standalone on purpose: it must not import ftgen (the framework env does not have it).
"""

import json
import sys
import time
from pathlib import Path


def _turns(row):
    """(system, [{"role", "content"}...]) of one eval row, ending with a user turn."""
    if row.get("prompt") is not None:
        return "", [{"role": "user", "content": str(row["prompt"])}]
    system, turns = "", []
    for m in row.get("messages") or []:
        if m["role"] == "system":
            system = m["content"]
        else:
            turns.append({"role": m["role"], "content": m["content"]})
    while turns and turns[-1]["role"] == "assistant":  # the answer is what we ask for
        turns.pop()
    return system, turns


class _Prompter:
    """Turns eval rows into prompt token ids exactly as the framework built them in training."""

    def __init__(self, fmt, tokenizer):
        self.fmt, self.tok, self.kind = fmt, tokenizer, fmt["kind"]
        self.stop_ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        if self.kind == "llamafactory":
            from llamafactory.data import get_template_and_fix_tokenizer
            from llamafactory.hparams import DataArguments

            self.template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=fmt.get("template")))
            self.stop_ids = self.template.get_stop_token_ids(tokenizer)
        elif self.kind == "alpaca":
            from axolotl.prompters import AlpacaPrompter

            self.prompter = AlpacaPrompter(fmt.get("prompt_style"))
        elif self.kind == "chat_template":
            self.jinja = fmt.get("jinja")
            if self.jinja is None:
                from axolotl.utils.chat_templates import get_chat_template

                self.jinja = get_chat_template(
                    fmt.get("chat_template") or "tokenizer_default",
                    jinja_template=fmt.get("chat_template_jinja"),
                    tokenizer=tokenizer,
                )

    def ids(self, row):
        system, turns = _turns(row)
        if self.kind == "llamafactory":
            paired = turns + [{"role": "assistant", "content": ""}]  # as llamafactory/chat/hf_engine.py does
            prompt_ids, _ = self.template.encode_oneturn(self.tok, paired, system or None, None)
            return list(prompt_ids)
        if self.kind == "alpaca":  # axolotl prompt_tokenizers.InstructionPromptTokenizingStrategy
            user = [t["content"] for t in turns if t["role"] == "user"]
            text = next(iter(self.prompter.build_prompt(user[-1] if user else "", "")))
            return self.tok(text, truncation=True, max_length=self.fmt.get("sequence_len") or 2048, padding=False)[
                "input_ids"
            ]
        if self.kind == "chat_template":
            messages = ([{"role": "system", "content": system}] if system else []) + turns
            text = self.tok.apply_chat_template(
                messages, chat_template=self.jinja, add_generation_prompt=True, tokenize=False
            )
            return self.tok(text, add_special_tokens=False)["input_ids"]
        text = "\n".join(t["content"] for t in turns)
        return self.tok(text)["input_ids"]


def _tokenizer(path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _model(spec, device, dtype):
    import torch
    from transformers import AutoModelForCausalLM

    extra = {"device_map": device} if device == "cuda" else {}  # straight onto the GPU, no full copy in RAM
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=dtype, **extra)
    if spec.get("adapter"):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, spec["adapter"])
    model.to(device).eval()
    torch.set_grad_enabled(False)
    return model


def _generate(model, tok, prompts, stop_ids, max_new_tokens, batch_size, device):
    import torch

    pad = tok.pad_token_id
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
    answers = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in batch)
        ids = [[pad] * (width - len(prompts[i])) + prompts[i] for i in batch]  # left padding
        mask = [[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in batch]
        out = model.generate(
            input_ids=torch.tensor(ids, device=device),
            attention_mask=torch.tensor(mask, device=device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=stop_ids or None,
            pad_token_id=pad,
        )
        for row, seq in zip(batch, out[:, width:].tolist()):
            cut = next((k for k, t in enumerate(seq) if t in stop_ids), len(seq))
            answers[row] = tok.decode(seq[:cut], skip_special_tokens=True).strip()
    return answers


def main():
    job = json.load(sys.stdin)
    rows, fmt = job["rows"], job["format"]
    began = time.time()
    if job.get("dry_run"):
        texts, all_ids = {}, {}
        for spec in job["models"]:
            tok = _tokenizer(spec.get("tokenizer") or spec["model"])
            prompter = _Prompter(fmt, tok)
            all_ids[spec["name"]] = [prompter.ids(r) for r in rows]
            texts[spec["name"]] = [tok.decode(i) for i in all_ids[spec["name"]]]
        print(json.dumps({"prompts": texts, "prompt_ids": all_ids}))
        return
    import torch

    want = job.get("device", "auto")
    device = "cuda" if want in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    out_dir = Path(job["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for spec in job["models"]:
        tok = _tokenizer(spec.get("tokenizer") or spec["model"])
        prompter = _Prompter(fmt, tok)
        prompts = [prompter.ids(r) for r in rows]
        model = _model(spec, device, dtype)
        answers = _generate(
            model,
            tok,
            prompts,
            prompter.stop_ids,
            int(job.get("max_new_tokens") or 64),
            int(job.get("batch_size") or 16),
            device,
        )
        path = out_dir / f"{spec['name']}.generations.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for i, (ids, answer) in enumerate(zip(prompts, answers)):
                fh.write(
                    json.dumps({"index": i, "prompt_text": tok.decode(ids), "prediction": answer}, ensure_ascii=False)
                    + "\n"
                )
        outputs[spec["name"]] = str(path)
        del model
    print(
        json.dumps(
            {
                "outputs": outputs,
                "device": device,
                "dtype": str(dtype).replace("torch.", ""),
                "seconds": round(time.time() - began, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
