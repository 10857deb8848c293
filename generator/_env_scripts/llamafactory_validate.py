"""Inside a LLaMA-Factory env: run LLaMA-Factory's own argument checks on many config files; print JSON."""

# Runs as `python llamafactory_validate.py` with a JSON request on stdin:
#   {"paths": [...], "target": "host" | "gpu"}  ("gpu": bf16/tf32 checks pass as on an Ampere+ GPU), and
# prints {"results": {path: [problem, ...]}, "import_seconds": s, "per_config_ms": {path: ms}} on
# stdout. Must not import `generator`. Each config is read as `llamafactory-cli train` reads it
# (OmegaConf.load + to_container) and passed to llamafactory.hparams.get_train_args with output_dir
# pointed at a fresh temp folder (get_train_args looks for checkpoints there and may resume) and
# overwrite_output_dir left as the config says. get_train_args sets seeds; nothing else is run.
import ast
import json
import os
import re
import shutil
import sys
import tempfile
import time

_UNUSED = re.compile(r"Some keys are not used by the HfArgumentParser: (\[.*\])", re.S)


def _problems_from_exception(exc):
    text = str(exc)
    match = _UNUSED.search(text)
    if match:
        try:
            keys = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            keys = None
        if isinstance(keys, (list, tuple)):
            return [{"key": str(k), "message": "unknown key (not used by the HfArgumentParser)"} for k in keys]
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    return [{"key": "", "message": f"{type(exc).__name__}: {first}" if first else type(exc).__name__}]


def _assume_gpu():
    """Judge the config for a bf16/tf32-capable GPU instead of this host (lint of GPU configs on CPU)."""
    import llamafactory.hparams.parser as lf_parser
    import transformers.training_args as hf_args

    def yes():
        return True

    hf_args.is_torch_bf16_gpu_available = yes
    hf_args.is_torch_tf32_available = yes
    hf_args.enable_tf32 = lambda *a, **k: None
    lf_parser.is_torch_bf16_gpu_available = yes


def main():
    request = json.load(sys.stdin)
    saved = os.dup(1)
    os.dup2(2, 1)  # framework logs and banners go to stderr; JSON goes to the saved stdout
    t0 = time.monotonic()
    from llamafactory.hparams import get_train_args
    from omegaconf import OmegaConf

    if request.get("target") == "gpu":
        _assume_gpu()
    import_seconds = time.monotonic() - t0
    results, timings = {}, {}
    for path in request["paths"]:
        start = time.monotonic()
        try:
            args = OmegaConf.to_container(OmegaConf.load(path))
        except Exception as exc:
            results[path] = [{"key": "", "message": f"cannot read config: {type(exc).__name__}: {exc}"}]
            continue
        if not isinstance(args, dict):
            results[path] = [{"key": "", "message": "config must be a mapping"}]
            continue
        out_dir = tempfile.mkdtemp(prefix="ftgen-lf-validate-")
        args["output_dir"] = out_dir
        try:
            get_train_args(args)
            results[path] = []
        except SystemExit as exc:  # argparse-style exits must not end the batch
            results[path] = [{"key": "", "message": f"SystemExit: {exc.code}"}]
        except Exception as exc:
            results[path] = _problems_from_exception(exc)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        timings[path] = round((time.monotonic() - start) * 1000, 1)

    sys.stdout.flush()
    os.dup2(saved, 1)
    out = {
        "framework": "llamafactory",
        "target": request.get("target", "host"),
        "import_seconds": round(import_seconds, 2),
        "results": results,
        "per_config_ms": timings,
    }
    sys.stdout.write(json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
