"""The generated files checked by the real tools: DeepSpeed parses every ZeRO JSON, SkyPilot loads every sky.yaml.

Both tools install into cached virtualenvs on first use (DeepSpeed + torch + transformers ~2.7-6.5 min, ~1 GB;
SkyPilot ~2-2.3 min, ~460 MB); see conftest.tool_python. Starting a DeepSpeed engine on CPU JIT-compiles its
shared-memory comm op once (~3 min, C++ compiler needed; cached in ~/.cache/torch_extensions).
shellcheck runs in test_launch_files.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.build import build_file
from generator.launch import generate
from generator.plan import Distributed
from generator.render import deepspeed

DEEPSPEED_FILE = {d.value: d.deepspeed_file for d in Distributed if d.deepspeed}

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "tests" / "cases" / "good"
pytestmark = pytest.mark.e2e


def test_deepspeed_parses_every_zero_json_ftgen_writes(tmp_path, tool, check_with):
    python = tool("deepspeed")
    files = []
    for stage, name in DEEPSPEED_FILE.items():
        path = tmp_path / name
        path.write_text(deepspeed.text(stage))
        files.append(path)
    # and the copies builds write (the same text, but through the build path)
    for spec in sorted(GOOD.glob("*.yaml")):
        for name, text in build_file(spec).files.items():
            if name.startswith("deepspeed_"):
                assert text == deepspeed.text(next(s for s, n in DEEPSPEED_FILE.items() if n == name))
    results = check_with(python, "_deepspeed_check.py", files)
    expect = {"zero1": (1, False), "zero2": (2, False), "zero3": (3, False), "zero3_offload": (3, "cpu")}
    for stage, name in DEEPSPEED_FILE.items():
        r = results[str(tmp_path / name)]
        assert r["ok"], f"{name}: {r['error']}"
        assert (r["stage"], r["offload_param"]) == expect[stage] and r["cases"] == 3


def test_deepspeed_check_has_teeth(tmp_path, tool, check_with):
    python = tool("deepspeed")
    bad = tmp_path / "bad.json"
    cfg = deepspeed.config("zero3")
    cfg["zero_optimization"]["offload_param"] = {"device": "gpu"}
    import json

    bad.write_text(json.dumps(cfg))
    r = check_with(python, "_deepspeed_check.py", [bad])[str(bad)]
    assert not r["ok"] and "offload_param" in r["error"]


@pytest.mark.parametrize("stage", list(DEEPSPEED_FILE))
def test_deepspeed_engine_starts_and_steps_on_cpu(stage, tmp_path, tool):
    """deepspeed.initialize + one step (gloo, world size 1) with each JSON, as the HF Trainer calls it."""
    import json
    import shutil
    import socket

    if not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("DeepSpeed JIT-compiles its CPU shared-memory comm op at init: needs a C++ compiler")
    python = tool("deepspeed")
    path = tmp_path / DEEPSPEED_FILE[stage]
    path.write_text(deepspeed.text(stage))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [str(python), str(Path(__file__).parent / "_deepspeed_step.py"), str(path), str(port)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], result["error"]


def test_skypilot_loads_every_sky_yaml(tmp_path, tool, check_with):
    python = tool("skypilot")
    files, want = [], {}
    for spec in sorted(GOOD.glob("*.yaml")):
        b = build_file(spec)
        out = generate(b)
        if "sky.yaml" not in out:
            continue
        path = tmp_path / f"{b.spec.name}.sky.yaml"
        path.write_text(out["sky.yaml"])
        files.append(path)
        want[str(path)] = b.spec.hardware.nodes
    assert len(files) > 20
    results = check_with(python, "_sky_check.py", files)
    for path, nodes in want.items():
        r = results[path]
        assert r["ok"], f"{path}: {r['error']}"
        assert r["num_nodes"] == nodes and r["accelerators"] and r["envs"]["FTGEN_FRAMEWORK"]


def test_vendored_skypilot_schema_matches_the_pinned_skypilot(tool):
    python = tool("skypilot")
    proc = subprocess.run(
        [str(python), str(REPO / "scripts" / "gen_skypilot_schema.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
