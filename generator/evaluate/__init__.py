"""`ftgen eval`: score the base and the fine-tuned model of a run on the team's eval set, side by side."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .. import _io, envs, frameworks
from .._yaml import load_file
from ..errors import Exit, FtgenError, Problem
from ..run.record import RunRecord, now
from ..write import atomic_write
from . import cache, evalset, harness, prompts
from .scoring import METRICS, mean_scores, score

__all__ = ["MODELS", "PREDICTION_FILES", "after_run", "evaluate_run", "fine_tuned_weights"]

MODELS = ("base", "fine-tuned")
PREDICTION_FILES = {"base": "base.predictions.jsonl", "fine-tuned": "finetuned.predictions.jsonl"}
_WEIGHTS = ("*.safetensors", "pytorch_model*.bin")


def _problem(where, key: str, message: str, found=None, allowed=None) -> FtgenError:
    return FtgenError([Problem(str(where), key, message, found, allowed)])


def _has_weights(folder: Path) -> str | None:
    if (folder / "adapter_config.json").is_file():
        return "adapter"
    if (folder / "config.json").is_file() and any(any(folder.glob(g)) for g in _WEIGHTS):
        return "full"
    return None


def fine_tuned_weights(record: RunRecord) -> tuple[Path, str]:
    """(folder, "adapter" | "full"): the run's final output, else its last checkpoint."""
    model_dir = record.dir / "model"
    candidates = [model_dir] + [Path(c["path"]) for c in reversed(record.checkpoints or [])]
    for folder in candidates:
        kind = _has_weights(folder) if folder.is_dir() else None
        if kind:
            return folder, kind
    raise _problem(
        record.dir,
        "model",
        "the run has no trained weights to evaluate",
        allowed="a run whose model/ (or a checkpoint-N/) holds an adapter or model weights",
    )


def _run_config(record: RunRecord) -> dict:
    path = record.dir / record.config_copy
    data = load_file(path).data or {}
    if not isinstance(data, dict):
        raise _problem(path, "", "the run's config is not a mapping of keys to values", found=type(data).__name__)
    return data


def _base_ref(framework: str, config: dict) -> str:
    return str(config.get(frameworks.get(framework).key_of("base_model") or "") or "")


def _generate(
    env: envs.Env, fmt: dict, rows: list[dict], models: list[dict], max_new_tokens: int, out_dir: Path
) -> dict:
    job = {
        "format": fmt,
        "rows": [{k: r[k] for k in ("prompt", "messages") if k in r} for r in rows],
        "models": models,
        "max_new_tokens": max_new_tokens,
        "batch_size": 16,
        "out_dir": str(out_dir),
    }
    timeout = max(900.0, len(rows) * max_new_tokens * 0.2 * len(models))
    try:
        result = envs.run_json(
            env.python, "generate.py", stdin=json.dumps(job), env=env.subprocess_env(), timeout=timeout
        )
    except envs.ScriptError as exc:
        raise FtgenError(
            [Problem("<eval>", env.framework, f"generation failed in the {env.framework} env: {exc}")],
            exit_code=Exit.RUN_FAILED,
        ) from None
    for name, path in result.get("outputs", {}).items():
        result[name] = _io.read_jsonl(path)
    return result


def _scored(rows: list[dict], predictions: list[str]) -> list[dict]:
    out = []
    for row, pred in zip(rows, predictions):
        item = {k: row[k] for k in ("index", "id", "prompt", "messages", "answers", "tags") if k in row}
        item["prediction"] = pred
        item.update({m: round(v, 4) for m, v in score(pred, row["answers"]).items()})
        out.append(item)
    return out


def _by_tag(scored: dict[str, list[dict]]) -> dict:
    tags = sorted({t for r in scored["base"] for t in r.get("tags") or []})
    return {
        t: {name: mean_scores([r for r in rows if t in (r.get("tags") or [])]) for name, rows in scored.items()}
        for t in tags
    }


def evaluate_run(
    record: RunRecord, *, env_root: Path | None = None, on_line: Callable[[str, bool], None] | None = None
) -> dict:
    """Generate with the base and the fine-tuned model, score, write predictions, store `record.eval`; save."""
    say = (lambda text: on_line(text, False)) if on_line else (lambda text: None)
    began = time.monotonic()
    build_dir = record.dir.parent.parent
    spec, eval_path = evalset.locate(build_dir)
    rows = evalset.load(eval_path, str(build_dir / "plan.json"))
    digest = evalset.sha256(eval_path)
    config = _run_config(record)
    fmt = prompts.prompt_format(record.framework, config)
    base = _base_ref(record.framework, config)
    weights, kind = fine_tuned_weights(record)
    env = envs.get_env(record.framework, env_root)
    if env is None:
        raise _problem(
            "<environment>",
            record.framework,
            "no managed environment for this framework",
            allowed=f"create it with `ftgen env install {record.framework}`",
        )
    max_new = int(spec.get("max_new_tokens") or 64)
    key = cache.key(
        {
            "model": cache.model_identity(base),
            "eval_sha256": digest,
            "prompt_format": fmt,
            "max_new_tokens": max_new,
            "framework": record.framework,
            "version": env.version,
            "torch": env.torch_flavor,
        }
    )
    cached = cache.load(key, len(rows))
    tokenizer = str(weights) if (weights / "tokenizer_config.json").is_file() else base
    tuned = (
        {"name": "fine-tuned", "model": base, "adapter": str(weights), "tokenizer": tokenizer}
        if kind == "adapter"
        else {"name": "fine-tuned", "model": str(weights), "tokenizer": tokenizer}
    )
    models = ([] if cached else [{"name": "base", "model": base, "tokenizer": base}]) + [tuned]
    eval_dir = record.dir / "eval"
    scratch = eval_dir / ".generations"
    say(
        f"eval: {len(rows)} rows, {'fine-tuned model (base from cache)' if cached else 'base and fine-tuned models'}"
        f" in the {record.framework} env ..."
    )
    result = _generate(env, fmt, rows, models, max_new, scratch)
    if not cached:
        cached = {
            "fields": {
                "model": base,
                "eval_sha256": digest,
                "prompt_format": fmt,
                "max_new_tokens": max_new,
                "framework": record.framework,
                "version": env.version,
            },
            "predictions": [g["prediction"] for g in result["base"]],
            "device": result.get("device"),
            "created_at": now(),
        }
        cache.store(key, cached)
        from_cache = False
    else:
        from_cache = True
    predictions = {"base": cached["predictions"], "fine-tuned": [g["prediction"] for g in result["fine-tuned"]]}
    scored = {name: _scored(rows, preds) for name, preds in predictions.items()}
    paths = {}
    for name, items in scored.items():
        paths[name] = eval_dir / PREDICTION_FILES[name]
        atomic_write(paths[name], "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    shutil.rmtree(scratch, ignore_errors=True)
    summary = {name: mean_scores(items) for name, items in scored.items()}
    regressions = sum(b["exact_match"] == 1 and f["exact_match"] == 0 for b, f in zip(*scored.values()))
    record.eval = {
        "summary": summary,
        "delta": {m: round(summary["fine-tuned"][m] - summary["base"][m], 4) for m in METRICS},
        "predictions": {name: str(p) for name, p in paths.items()},
        "eval_set": {
            "path": str(eval_path),
            "sha256": digest,
            "rows": len(rows),
            "max_new_tokens": max_new,
            "changed_since_build": digest != spec.get("sha256"),
        },
        "cached_base": from_cache,
        "models": {"base": base, "fine-tuned": str(weights), "kind": kind},
        "prompt_format": fmt,
        "prompt_example": result["fine-tuned"][0]["prompt_text"] if rows else "",
        "regressions": regressions,
        "device": result.get("device"),
        "evaluated_at": now(),
    }
    if config.get("load_in_4bit") or config.get("load_in_8bit") or config.get("quantization_bit"):
        record.eval["note"] = "the adapter was trained on a quantized base; it is evaluated on the unquantized base"
    tags = _by_tag(scored)
    if tags:
        record.eval["by_tag"] = tags
    if spec.get("harness_tasks"):
        say(f"eval: lm-evaluation-harness tasks {', '.join(spec['harness_tasks'])} ...")
        adapter = str(weights) if kind == "adapter" else None
        record.eval["harness"] = harness.run(
            env,
            spec["harness_tasks"],
            {"base": {"model": base}, "fine-tuned": {"model": base if adapter else str(weights), "adapter": adapter}},
            eval_dir,
        )
    record.eval["seconds"] = round(time.monotonic() - began, 2)
    record.save()
    return record.eval


def after_run(
    record: RunRecord, plan: dict, *, env_root: Path | None = None, on_line: Callable[[str, bool], None] | None = None
) -> None:
    """The hook at the end of `ftgen run`: evaluate a succeeded run whose build has an eval set.

    A failure never loses the run: it is kept in record.eval["error"] and the run's status stays.
    """
    if record.status != "succeeded" or not plan.get("eval_set"):
        return
    try:
        evaluate_run(record, env_root=env_root, on_line=on_line)
    except Exception as exc:
        text = exc.render() if isinstance(exc, FtgenError) else f"{type(exc).__name__}: {exc}"
        record.eval = {"error": text, "evaluated_at": now()}
        record.save()
        if on_line:
            on_line(f"eval failed: {text}", False)
