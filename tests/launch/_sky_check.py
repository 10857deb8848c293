"""Load sky.yaml files with SkyPilot itself (run with an interpreter that has skypilot installed).

Usage: python _sky_check.py FILE.yaml ...   Prints one JSON object: {file: {"ok": bool, ...}}.
sky.Task.from_yaml validates the task schema, the resources schema, envs and secrets, as `sky launch` does.
"""

import json
import sys

import sky


def check(file):
    try:
        task = sky.Task.from_yaml(file)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    accelerators = [r.accelerators for r in task.resources]
    return {
        "ok": True,
        "num_nodes": task.num_nodes,
        "accelerators": accelerators,
        "envs": dict(task.envs),
        "version": sky.__version__,
    }


if __name__ == "__main__":
    print(json.dumps({f: check(f) for f in sys.argv[1:]}, default=str))
