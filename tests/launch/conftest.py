"""Fixtures for the launch tests: builds written to a folder, and stub tools that record how they were called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.build import build_file
from generator.launch import EXECUTABLE, generate

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases" / "good"

# Environment variables the stubs record.
RECORDED = (
    "FORCE_TORCHRUN",
    "NNODES",
    "NODE_RANK",
    "NPROC_PER_NODE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "RDZV_ID",
    "HF_TOKEN",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "DO_NOT_TRACK",
    "AXOLOTL_DO_NOT_TRACK",
    "WANDB_MODE",
    "WANDB_DISABLED",
    "DISABLE_VERSION_CHECK",
    "GRADIO_ANALYTICS_ENABLED",
    "HF_ENDPOINT",
    "FTGEN_ENV_BIN",
    "PYTHONPATH",
    "PYTHONUNBUFFERED",
)

_STUB = """#!{python}
import json, os, subprocess, sys, time
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps({{"tool": name, "argv": args, "cwd": os.getcwd(),
                          "env": {{k: os.environ.get(k) for k in {recorded!r}}}}}) + "\\n")
if name == "ftgen" and args[:2] == ["env", "bin"]:
    print(os.path.dirname(os.path.abspath(sys.argv[0])))
elif name == "scontrol":
    print("gpu-node-7\\ngpu-node-8")
elif name == "sbatch":
    print("Submitted batch job 4242")
elif name == "srun":
    while args and args[0].startswith("--"):
        args = args[1:]
    sys.exit(subprocess.call(args))
time.sleep(float(os.environ.get("STUB_SLEEP", "0")))
sys.exit(int(os.environ.get("STUB_EXIT", "0")))
"""

STUB_TOOLS = ("llamafactory-cli", "axolotl", "ftgen", "scontrol", "srun", "sbatch", "sky", "python")


def _write_build(spec: Path | str, out_root: Path) -> Path:
    """Build a spec and write its files plus the launch files (launch.sh executable) into out_root/<name>."""
    b = build_file(spec, out_root)
    files = {**b.files, **generate(b)}
    b.out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = b.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)  # a shipped package (ftgen_sft/)
        path.write_text(text, encoding="utf-8")
        if name in EXECUTABLE:
            path.chmod(0o755)
    return b.out_dir


class Stubs:
    """A bin folder of stub tools; `calls()` reads back what each one saw."""

    def __init__(self, root: Path):
        self.bin = root / "stub-bin"
        self.bin.mkdir()
        self.log = root / "stub-calls.jsonl"
        for tool in STUB_TOOLS:
            path = self.bin / tool
            path.write_text(_STUB.format(python=sys.executable, recorded=RECORDED), encoding="utf-8")
            path.chmod(0o755)

    def env(self, *, on_path: bool = True, **extra: str) -> dict[str, str]:
        """A clean environment for a script: stubs first on PATH (or absent), no stray launch variables."""
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in RECORDED and not k.startswith(("SLURM_", "SKYPILOT_", "PET_", "FTGEN_"))
        }
        base["PATH"] = (f"{self.bin}{os.pathsep}" if on_path else "") + "/usr/bin:/bin"
        base["STUB_LOG"] = str(self.log)
        base.update(extra)
        return base

    def calls(self, tool: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]
        return [r for r in rows if tool is None or r["tool"] == tool]

    def run(self, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
        self.log.unlink(missing_ok=True)
        return subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def write_build():
    """write_build(spec, out_root) -> out_dir: a build's files and launch files on disk."""
    return _write_build


@pytest.fixture
def stubs(tmp_path) -> Stubs:
    return Stubs(tmp_path)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Memoised write_build of a tests/cases/good spec by name."""
    root = tmp_path_factory.mktemp("launch-builds")
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = _write_build(CASES / f"{name}.yaml", root)
        return done[name]

    return get


# ------------------------------------------------------------------ tool virtualenvs for the e2e checks

TOOLS = {
    # name: (pip install steps, env vars for pip). Pinned: the checks say which versions accepted the files.
    "deepspeed": (
        [["torch==2.13.0"], ["deepspeed==0.19.8", "transformers==5.6.0", "accelerate==1.11.0"]],
        {"DS_BUILD_OPS": "0"},
    ),
    "skypilot": ([["skypilot==0.14.1"]], {}),
}


def tool_python(name: str) -> Path:
    """The interpreter of a cached virtualenv with a validation tool, created on first use (e2e only).

    FTGEN_TEST_<NAME>_PYTHON points at an existing interpreter instead; the cache lives in
    $FTGEN_TEST_TOOLS (default ~/.cache/ftgen/test-tools). Skips when the tool cannot be installed.
    """
    override = os.environ.get(f"FTGEN_TEST_{name.upper()}_PYTHON")
    if override:
        return Path(override)
    steps, pip_env = TOOLS[name]
    root = Path(os.environ.get("FTGEN_TEST_TOOLS") or Path.home() / ".cache" / "ftgen" / "test-tools")
    venv = root / name
    python = venv / "bin" / "python"
    stamp = venv / ".ftgen-ready"
    want = json.dumps(steps)
    if stamp.is_file() and stamp.read_text() == want and python.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    import fcntl
    import shutil

    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == want and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        env = {**os.environ, **pip_env}
        env.pop("PYTHONPATH", None)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for reqs in steps:
            proc = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--progress-bar", "off", *reqs],
                check=False,
                env=env,
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
                pytest.skip(f"cannot install {' '.join(reqs)} for the {name} check: {tail}")
        stamp.write_text(want)
    return python


def run_check(python: Path, script: str, files: list[Path]) -> dict:
    """Run tests/launch/<script> with a tool interpreter; return the JSON it prints last."""
    here = Path(__file__).parent
    proc = subprocess.run(
        [str(python), str(here / script), *map(str, files)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def tool():
    """tool(name) -> interpreter path of a cached tool virtualenv (see tool_python)."""
    return tool_python


@pytest.fixture(scope="session")
def check_with():
    """check_with(python, script, files) -> the JSON a tests/launch/_*_check.py script printed."""
    return run_check
