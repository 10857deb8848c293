"""Inside an Axolotl env: run Axolotl's own config validation on many config files; print JSON."""

# Runs as `python axolotl_validate.py` with a JSON request on stdin:
#   {"paths": [...], "target": "host" | "gpu", "capabilities": {...} (optional, overrides target)}
# and prints {"results": {path: [problem, ...]}, "ignored_keys": {path: [...]}, "import_seconds": s,
# "per_config_ms": {path: ms}} on stdout. Must not import `generator`.
# It does what `axolotl train` does before training (axolotl.cli.config.load_cfg): yaml.safe_load,
# register the config's plugins, probe capabilities, validate_config -- and nothing after it
# (normalize_config would read the model's config from the hub).
import copy
import json
import os
import re
import sys
import time

# "target": "gpu" judges a config for an Ampere+/Hopper GPU instead of this host (lint on a CPU machine).
GPU_CAPABILITIES = {"bf16": True, "fp8": False, "tf32": True, "n_gpu": 1, "compute_capability": "sm_90"}

_UNION_TAG = re.compile(r"^[A-Z]|\[|^(str|int|float|bool|none|dict|list|literal|function-.*)$")


def _key(loc):
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not _UNION_TAG.search(part):
            out += ("." if out else "") + part
    return out


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _from_validation_error(exc):
    out, seen = [], set()
    for err in exc.errors(include_url=False):
        loc = err.get("loc", ())
        key = _key(loc)
        msg = err.get("msg", "")
        item = {"key": key, "message": msg}
        if loc and not isinstance(err.get("input"), dict):
            item["found"] = _jsonable(err.get("input"))
        expected = (err.get("ctx") or {}).get("expected")
        if expected:
            item["allowed"] = str(expected)
        ident = (key, msg)
        if ident not in seen:
            seen.add(ident)
            out.append(item)
    return out


def main():
    request = json.load(sys.stdin)
    saved = os.dup(1)
    os.dup2(2, 1)  # framework logs and banners go to stderr; JSON goes to the saved stdout
    t0 = time.monotonic()
    import yaml
    from axolotl.cli.config import gpu_capabilities
    from axolotl.integrations.base import PluginManager
    from axolotl.utils.config import prepare_plugins, validate_config
    from axolotl.utils.dict import DictDefault
    from pydantic import ValidationError

    capabilities = request.get("capabilities")
    if capabilities is None and request.get("target") == "gpu":
        capabilities = dict(GPU_CAPABILITIES)
    if capabilities is not None:
        import torch

        capabilities = dict(capabilities)
        env_capabilities = {"torch_version": str(torch.__version__).split("+", maxsplit=1)[0]}
    else:
        capabilities, env_capabilities = gpu_capabilities()
    import_seconds = time.monotonic() - t0

    results, ignored, timings = {}, {}, {}
    manager = PluginManager.get_instance()
    for path in request["paths"]:
        start = time.monotonic()
        manager.plugins.clear()  # the manager is a process-wide singleton: no plugin leaks between configs
        try:
            with open(path, encoding="utf-8") as fh:
                raw = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            results[path] = [{"key": "", "message": f"cannot read config: {exc}"}]
            continue
        if not isinstance(raw, dict):
            results[path] = [{"key": "", "message": "config must be a mapping"}]
            continue
        cfg = DictDefault(copy.deepcopy(raw))
        try:
            prepare_plugins(cfg)
            validated = validate_config(cfg, capabilities=capabilities, env_capabilities=env_capabilities)
            results[path] = []
            ignored[path] = sorted(k for k, v in raw.items() if v is not None and k not in validated)
        except ValidationError as exc:
            results[path] = _from_validation_error(exc)
        except Exception as exc:
            text = str(exc).strip().splitlines()
            results[path] = [{"key": "", "message": f"{type(exc).__name__}: {text[0] if text else ''}"}]
            try:
                manager.on_config_validation_error(cfg)
            except Exception:
                pass
        timings[path] = round((time.monotonic() - start) * 1000, 1)

    sys.stdout.flush()
    os.dup2(saved, 1)
    out = {
        "framework": "axolotl",
        "target": request.get("target", "host"),
        "capabilities": capabilities,
        "import_seconds": round(import_seconds, 2),
        "results": results,
        "ignored_keys": ignored,
        "per_config_ms": timings,
    }
    sys.stdout.write(json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
