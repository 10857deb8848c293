"""A fake framework that prints the secret values it received (as a careless trainer might), then fakes training."""

import hashlib
import os
import runpy
import sys
from pathlib import Path

NAMES = ("HF_TOKEN", "WANDB_API_KEY", "HUGGING_FACE_HUB_TOKEN")
for name in NAMES:
    value = os.environ.get(name, "")
    # the fingerprint proves the exact value arrived; the value itself must be masked in what ftgen keeps
    print(f"{name} seen={'yes' if value else 'no'} sha={hashlib.sha256(value.encode()).hexdigest()[:16]}", flush=True)
    print(f"{name}={value}", flush=True)
    sys.stdout.write(f"\r progress {value} 10%|#|\r")
    sys.stdout.flush()
    print(f"login ok for token {value}; wandb key={value}!", file=sys.stderr, flush=True)
sys.argv = [str(Path(__file__).parents[1] / "run" / "fake_framework.py"), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
