"""Optional lm-evaluation-harness tasks named in the spec, run in the framework env when it has lm_eval."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .. import _io, envs

_PROBE = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('lm_eval') else 3)"


def has_lm_eval(env: envs.Env) -> bool:
    try:
        proc = subprocess.run(
            [str(env.python), "-c", _PROBE], env=env.subprocess_env(), capture_output=True, check=False, timeout=120
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def command(env: envs.Env, tasks: list[str], model: str, adapter: str | None, out: Path) -> list[str]:
    """`python -m lm_eval` for one model (a PEFT adapter goes in as `peft=`)."""
    model_args = f"pretrained={model}" + (f",peft={adapter}" if adapter else "")
    device = "cuda" if env.torch_flavor == "cuda" else "cpu"
    return [
        str(env.python),
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        model_args,
        "--tasks",
        ",".join(tasks),
        "--device",
        device,
        "--batch_size",
        "8",
        "--output_path",
        str(out),
    ]


def parse_results(out: Path) -> dict:
    """{task: {metric: value}} from the newest results*.json lm_eval wrote under `out`."""
    found = sorted(Path(out).glob("**/results*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        return {}
    data = _io.read_json(found[-1], max_bytes=64 * 1024 * 1024)
    if not isinstance(data, dict):
        return {}
    return {
        task: {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for task, metrics in (data.get("results") or {}).items()
    }


def run(env: envs.Env, tasks: list[str], models: dict[str, dict], out_dir: Path, timeout: float = 6 * 3600) -> dict:
    """Run the tasks for each model ({"model", "adapter"} by name); a status line instead when lm_eval is absent."""
    if not tasks:
        return {}
    if not has_lm_eval(env):
        return {"status": f"skipped: lm_eval not installed in the {env.framework} env", "tasks": list(tasks)}
    results, errors = {}, {}
    for name, spec in models.items():
        out = Path(out_dir) / "harness" / name.replace("-", "")
        cmd = command(env, list(tasks), spec["model"], spec.get("adapter"), out)
        try:
            proc = subprocess.run(
                cmd, env=env.subprocess_env(), capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        if proc.returncode != 0:
            errors[name] = f"lm_eval exit {proc.returncode}: {proc.stderr[-500:]}"
            continue
        results[name] = parse_results(out)
    status = "ok" if not errors else "failed"
    return {"status": status, "tasks": list(tasks), "results": results, **({"errors": errors} if errors else {})}
