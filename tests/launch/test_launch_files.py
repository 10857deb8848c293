"""Launch files: golden files, shellcheck, SkyPilot's task schema, and the scripts' behaviour against stub tools.

Regenerate the golden files after an intended change: FTGEN_UPDATE_EXPECTED=1 pytest tests/launch/test_launch_files.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.build import build_file
from generator.errors import FtgenError
from generator.launch import CLUSTER_FILES, file_names, generate, launch_command, submit
from generator.launch._files import sky_problems

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases" / "good"
EXPECTED = Path(__file__).parent / "expected"
GOLDEN = [
    "ddp-lora-4xa100",
    "zero3-full-70b-4-nodes",
    "cpu-tiny-local-model",
    "full-forced-70b-8xa100-40",
    "custom-vram-48gb",
]
ALL = sorted(CASES.glob("*.yaml"))  # collected once; the good cases are the lead's (renames happen)
UPDATE = os.environ.get("FTGEN_UPDATE_EXPECTED") == "1"


# ------------------------------------------------------------------ golden files


@pytest.mark.parametrize("name", GOLDEN)
def test_launch_files_match_expected(name):
    files = generate(build_file(CASES / f"{name}.yaml"))
    folder = EXPECTED / name
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for file, text in files.items():
            (folder / file).write_text(text, encoding="utf-8")
    assert folder.is_dir(), f"no expected files for {name}: run with FTGEN_UPDATE_EXPECTED=1"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files), "expected/ holds a different set of files"
    for file, text in files.items():
        assert (folder / file).read_text(encoding="utf-8") == text, (
            f"{name}/{file} differs from tests/launch/expected (FTGEN_UPDATE_EXPECTED=1 if intended)"
        )


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.stem)
def test_every_case_gets_its_launch_files(spec):
    b = build_file(spec)
    files = generate(b)
    assert tuple(files) == file_names(b.facts.gpu.is_cpu)
    assert files["launch.sh"].startswith("#!/usr/bin/env bash\n")
    assert "#SBATCH --signal=B:USR1@300" in files["slurm.sbatch"]
    if b.facts.gpu.is_cpu:
        # slurm.sbatch without a GPU request (CPU clusters; the local Slurm of the e2e tests); no sky / k8s files
        assert set(files) == {"launch.sh", "slurm.sbatch"}
        assert "--gpus-per-node" not in files["slurm.sbatch"]
        return
    assert set(files) == {"launch.sh", *CLUSTER_FILES}
    assert f"#SBATCH --gpus-per-node={b.spec.hardware.gpus_per_node}\n" in files["slurm.sbatch"]
    sky = yaml.safe_load(files["sky.yaml"])
    assert sky["num_nodes"] == b.spec.hardware.nodes
    assert sky_problems(files["sky.yaml"]) == []  # SkyPilot's own task schema (vendored)
    job = yaml.safe_load(files["pytorchjob.yaml"])
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert sum(r["replicas"] for r in replicas.values()) == b.spec.hardware.nodes
    for r in replicas.values():
        [container] = r["template"]["spec"]["containers"]
        assert container["name"] == "pytorch"  # the training operator finds its container by this name
        assert container["resources"]["limits"]["nvidia.com/gpu"] == b.spec.hardware.gpus_per_node
    assert f"#SBATCH --nodes={b.spec.hardware.nodes}\n" in files["slurm.sbatch"]
    assert f"#SBATCH --gpus-per-node={b.spec.hardware.gpus_per_node}\n" in files["slurm.sbatch"]


def test_sky_schema_is_vendored_with_its_version():
    import json

    schema = json.loads((REPO / "schemas" / "skypilot-task.schema.json").read_text())
    assert schema["x-skypilot-version"] and "gen_skypilot_schema.py" in schema["$comment"]
    bad = "name: x\nnum_nodes: two\nresources: {accelerators: H100:8, gpus: 8}\n"
    keys = {p.key for p in sky_problems(bad)}
    assert keys == {"num_nodes", "resources.gpus"}  # the unknown key itself (the one schema-error translator)


def test_values_enter_scripts_only_quoted():
    from generator.launch._quote import UnsafeValue, job_name, shell_word

    assert shell_word("a b; rm -rf /") == "'a b; rm -rf /'"
    assert shell_word(8) == "8"
    for bad in ("x\ny", "tab\there", True, 1.5, None):
        with pytest.raises(UnsafeValue):
            shell_word(bad)
    with pytest.raises(UnsafeValue):
        job_name("x y")


# ------------------------------------------------------------------ shellcheck


def _scripts(out_dir: Path) -> list[Path]:
    """launch.sh, slurm.sbatch, and the shell inside sky.yaml and pytorchjob.yaml as files of their own."""
    paths = [out_dir / "launch.sh"]
    if (out_dir / "slurm.sbatch").exists():
        paths.append(out_dir / "slurm.sbatch")
    if (out_dir / "sky.yaml").exists():
        sky = yaml.safe_load((out_dir / "sky.yaml").read_text())
        job = yaml.safe_load((out_dir / "pytorchjob.yaml").read_text())
        command = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["command"]
        for name, body in (
            ("sky-setup.sh", sky["setup"]),
            ("sky-run.sh", sky["run"]),
            ("pytorchjob-command.sh", command[2]),
        ):
            path = out_dir / name
            path.write_text("#!/bin/bash\n" + body)
            paths.append(path)
    return paths


def test_shellcheck_passes_on_every_generated_script(tmp_path, write_build):
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip("shellcheck not installed (apt-get install -y shellcheck; scripts/test.sh does it as root)")
    paths = []
    for spec in ALL:
        paths += _scripts(write_build(spec, tmp_path))
    proc = subprocess.run(
        [exe, "--severity=style", "--format=gcc", *map(str, paths)], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr


# ------------------------------------------------------------------ launch.sh behaviour (stub frameworks)


def test_launch_sh_single_node_multi_gpu_axolotl_and_llamafactory(built, stubs, tmp_path):
    out = built("ddp-lora-4xa100")
    env = stubs.env(FTGEN_ENV_BIN=str(stubs.bin))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = stubs.run(["bash", str(out / "launch.sh")], elsewhere, env)  # run from another folder
    assert r.returncode == 0, r.stderr
    [call] = stubs.calls("axolotl")
    assert call["cwd"] == str(out), "launch.sh works in its own folder"
    assert call["argv"] == [
        "train",
        "axolotl.yaml",
        "--launcher",
        "torchrun",
        "--",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "4",
        "--standalone",
    ]
    r = stubs.run([str(out / "launch.sh"), "llamafactory", "max_steps=3"], out, env)
    assert r.returncode == 0, r.stderr
    [call] = stubs.calls("llamafactory-cli")
    assert call["argv"] == ["train", "llamafactory.yaml", "max_steps=3"]
    assert {k: call["env"][k] for k in ("FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE")} == {
        "FORCE_TORCHRUN": "1",
        "NNODES": "1",
        "NODE_RANK": "0",
        "NPROC_PER_NODE": "4",
    }
    assert call["env"]["MASTER_PORT"] is None, "one node: LLaMA-Factory picks a free port itself"


def test_launch_sh_multi_node_needs_master_addr_and_uses_rendezvous(built, stubs):
    out = built("zero3-full-70b-4-nodes")
    r = stubs.run(["bash", "launch.sh"], out, stubs.env(FTGEN_ENV_BIN=str(stubs.bin)))
    assert r.returncode == 2 and "set MASTER_ADDR" in r.stderr and not stubs.calls("axolotl")
    env = stubs.env(FTGEN_ENV_BIN=str(stubs.bin), MASTER_ADDR="10.0.0.1", NODE_RANK="1")
    assert stubs.run(["bash", "launch.sh"], out, env).returncode == 0
    assert stubs.calls("axolotl")[0]["argv"][-10:] == [
        "--nnodes",
        "4",
        "--nproc_per_node",
        "8",
        "--node_rank",
        "1",
        "--master_addr",
        "10.0.0.1",
        "--master_port",
        "29500",
    ]
    env["RDZV_ID"] = "77"
    assert stubs.run(["bash", "launch.sh"], out, env).returncode == 0
    assert stubs.calls("axolotl")[0]["argv"][-10:] == [
        "--nnodes",
        "4",
        "--nproc_per_node",
        "8",
        "--rdzv_backend",
        "c10d",
        "--rdzv_endpoint",
        "10.0.0.1:29500",
        "--rdzv_id",
        "77",
    ]
    assert stubs.run(["bash", "launch.sh", "llamafactory"], out, env).returncode == 0
    [call] = stubs.calls("llamafactory-cli")
    assert call["env"]["RDZV_ID"] == "77" and call["env"]["MASTER_ADDR"] == "10.0.0.1"


def test_launch_sh_llamafactory_deepspeed_always_under_torchrun(built, stubs):
    out = built("full-forced-70b-8xa100-40")
    env = stubs.env(FTGEN_ENV_BIN=str(stubs.bin), NPROC_PER_NODE="1")
    assert stubs.run(["bash", "launch.sh"], out, env).returncode == 0
    [call] = stubs.calls("llamafactory-cli")
    assert call["env"]["FORCE_TORCHRUN"] == "1", "LLaMA-Factory refuses DeepSpeed outside torchrun"
    r = stubs.run(["bash", "launch.sh", "axolotl"], out, env)
    assert r.returncode == 2 and "this build has no axolotl config" in r.stderr


def test_launch_sh_on_cpu_refuses_axolotl_with_several_processes(built, stubs):
    out = built("cpu-tiny-local-model")
    env = stubs.env(FTGEN_ENV_BIN=str(stubs.bin))
    assert stubs.run(["bash", "launch.sh"], out, env).returncode == 0
    [call] = stubs.calls("axolotl")
    assert call["argv"] == ["train", "axolotl.yaml", "--launcher", "python"]
    r = stubs.run(["bash", "launch.sh"], out, {**env, "NPROC_PER_NODE": "2"})
    assert r.returncode == 2 and "Axolotl cannot run more than one process on CPU" in r.stderr
    assert not stubs.calls("axolotl")
    assert stubs.run(["bash", "launch.sh", "llamafactory"], out, {**env, "NPROC_PER_NODE": "2"}).returncode == 0
    [call] = stubs.calls("llamafactory-cli")
    assert call["env"]["FORCE_TORCHRUN"] == "1" and call["env"]["NPROC_PER_NODE"] == "2"


OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def test_launch_sh_network_unless_offline_telemetry_always_off_token_passes(built, stubs):
    from generator.envs import FIXED_VARS

    out = built("cpu-tiny-local-model")
    env = stubs.env(FTGEN_ENV_BIN=str(stubs.bin), HF_TOKEN="hf_secret", PYTHONPATH="/stray", HF_ENDPOINT="http://m")
    assert stubs.run(["bash", "launch.sh", "llamafactory"], out, env).returncode == 0
    seen = stubs.calls("llamafactory-cli")[0]["env"]
    assert seen["HF_TOKEN"] == "hf_secret" and seen["PYTHONPATH"] is None and seen["PYTHONUNBUFFERED"] == "1"
    assert seen["HF_ENDPOINT"] == "http://m"
    assert all(seen[k] is None for k in OFFLINE)  # a user with network keeps it
    # telemetry: the same variables `ftgen run` sets, always
    assert {k: seen[k] for k in FIXED_VARS if k in seen} == {k: v for k, v in FIXED_VARS.items() if k in seen}
    assert {"DO_NOT_TRACK", "WANDB_MODE", "WANDB_DISABLED"} <= {k for k in FIXED_VARS if k in seen}
    assert seen["DISABLE_VERSION_CHECK"] == "1" and seen["GRADIO_ANALYTICS_ENABLED"] == "False"  # LLaMA-Factory's own


@pytest.mark.parametrize(
    ("user", "offline"),
    [
        ({"FTGEN_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "True"}, True),
        ({"HF_HUB_OFFLINE": "on"}, True),
        ({"HF_HUB_OFFLINE": "0"}, False),
        ({"FTGEN_OFFLINE": "no"}, False),
    ],
)
def test_launch_sh_and_slurm_sbatch_go_offline_by_the_rule_of_ftgen_run(user, offline, built, stubs, tmp_path):
    from generator.envs import Env

    out = built("cpu-tiny-local-model")
    env = stubs.env(FTGEN_ENV_BIN=str(stubs.bin), **user)
    assert stubs.run(["bash", "launch.sh", "llamafactory"], out, env).returncode == 0
    seen = stubs.calls("llamafactory-cli")[0]["env"]
    assert all(seen[k] == "1" for k in OFFLINE) if offline else all(seen[k] in (None, "0") for k in OFFLINE)
    py = Env("llamafactory", "x", tmp_path, tmp_path / "python", tmp_path).subprocess_env(base={"PATH": "", **user})
    assert all(k in py for k in OFFLINE) == offline  # ftgen run decides the same way
    # slurm.sbatch decides once for the allocation and srun hands it to every node's launch.sh
    out = built("zero3-full-70b-4-nodes")
    slurm = dict(SLURM_SUBMIT_DIR=str(out), SLURM_JOB_NODELIST="gpu-node-[7-10]", SLURM_NNODES="4", SLURM_JOB_ID="1")
    r = stubs.run(["bash", str(out / "slurm.sbatch"), "llamafactory"], out.parent, stubs.env(**slurm, **user))
    assert r.returncode == 0, r.stderr
    [srun] = stubs.calls("srun")
    assert (
        all(srun["env"][k] == "1" for k in OFFLINE) if offline else all(srun["env"][k] in (None, "0") for k in OFFLINE)
    )


def test_launch_sh_finds_or_creates_the_env_through_ftgen(built, stubs):
    out = built("cpu-tiny-local-model")
    r = stubs.run(["bash", "launch.sh"], out, stubs.env(on_path=False))
    assert r.returncode == 2 and "ftgen is not on PATH" in r.stderr
    assert stubs.run(["bash", "launch.sh", "llamafactory"], out, stubs.env()).returncode == 0
    assert [c["argv"] for c in stubs.calls("ftgen")] == [
        ["env", "install", "llamafactory"],
        ["env", "bin", "llamafactory"],
    ]
    r = stubs.run(["bash", "launch.sh"], out, stubs.env(NPROC_PER_NODE="two", FTGEN_ENV_BIN=str(stubs.bin)))
    assert r.returncode == 2 and "NPROC_PER_NODE must be a whole number" in r.stderr


# ------------------------------------------------------------------ slurm.sbatch, sky.yaml, pytorchjob.yaml


def test_slurm_sbatch_runs_launch_sh_on_every_node_with_c10d_rendezvous(built, stubs):
    out = built("zero3-full-70b-4-nodes")
    env = stubs.env(
        SLURM_SUBMIT_DIR=str(out), SLURM_JOB_NODELIST="gpu-node-[7-10]", SLURM_NNODES="4", SLURM_JOB_ID="4242"
    )
    r = stubs.run(["bash", str(out / "slurm.sbatch"), "llamafactory"], out.parent, env)
    assert r.returncode == 0, r.stderr
    assert [c["argv"] for c in stubs.calls("ftgen")] == [
        ["env", "install", "llamafactory"],
        ["env", "bin", "llamafactory"],
    ]
    [srun] = stubs.calls("srun")
    assert srun["argv"] == [
        "--nodes=4",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=1",
        "bash",
        "launch.sh",
        "llamafactory",
    ]
    assert srun["env"]["MASTER_ADDR"] == "gpu-node-7" and srun["env"]["RDZV_ID"] == "4242"
    assert srun["env"]["FTGEN_ENV_BIN"] == str(stubs.bin)
    [call] = stubs.calls("llamafactory-cli")  # the stub srun ran launch.sh once
    assert call["env"]["NNODES"] == "4" and call["env"]["NPROC_PER_NODE"] == "8"
    assert call["env"]["MASTER_PORT"] == "29500" and call["cwd"] == str(out)
    r = stubs.run(["bash", str(out / "slurm.sbatch")], out.parent, {**env, "SLURM_SUBMIT_DIR": str(out.parent)})
    assert r.returncode == 2 and "submit from the folder" in r.stderr


def _run_folder(out: Path, tmp_path: Path) -> Path:
    """A run folder as `ftgen run --launcher slurm` writes it: launch.sh and the config beside it."""
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    for name in ("launch.sh", "axolotl.yaml", "llamafactory.yaml"):
        if (out / name).is_file():
            shutil.copy(out / name, run_dir / name)
    return run_dir


def _slurm_env(stubs, out: Path, run_dir: Path, **extra) -> dict:
    return stubs.env(
        SLURM_SUBMIT_DIR=str(out),
        SLURM_JOB_NODELIST="node-1",
        SLURM_NNODES="1",
        SLURM_JOB_ID="77",
        FTGEN_RUN_DIR=str(run_dir),
        FTGEN_ENV_BIN=str(stubs.bin),
        **extra,
    )


def test_slurm_sbatch_under_ftgen_run_records_state_and_exit_code_in_the_run_folder(built, stubs, tmp_path):
    out = built("cpu-tiny-local-model")
    text = (out / "slurm.sbatch").read_text()
    assert "--gpus-per-node" not in text and "#SBATCH --time=" in text  # the plan's estimate with a margin
    run_dir = _run_folder(out, tmp_path)
    r = stubs.run(["bash", str(out / "slurm.sbatch")], out, _slurm_env(stubs, out, run_dir))
    assert r.returncode == 0, r.stderr
    [srun] = stubs.calls("srun")
    assert srun["argv"][3:] == ["bash", str(run_dir / "launch.sh"), "axolotl"]
    [call] = stubs.calls("axolotl")
    assert call["cwd"] == str(run_dir)  # the run's launch.sh reads the run's config beside it
    state = json.loads((run_dir / "slurm-state.json").read_text())
    assert (state["state"], state["exit_code"], state["job_id"]) == ("succeeded", 0, "77")
    r = stubs.run(["bash", str(out / "slurm.sbatch")], out, _slurm_env(stubs, out, run_dir, STUB_EXIT="3"))
    assert r.returncode == 3
    state = json.loads((run_dir / "slurm-state.json").read_text())
    assert (state["state"], state["exit_code"]) == ("failed", 3)


@pytest.mark.parametrize("sig,state,code", [("TERM", "cancelled", 143), ("USR1", "interrupted", 138)])
def test_slurm_sbatch_records_cancel_and_time_limit_signals(built, stubs, tmp_path, sig, state, code):
    """scancel sends the batch script SIGTERM; --signal=B:USR1@N warns it of the time limit."""
    import signal as signals
    import time

    out = built("cpu-tiny-local-model")
    run_dir = _run_folder(out, tmp_path)
    stubs.log.unlink(missing_ok=True)
    proc = subprocess.Popen(
        ["bash", str(out / "slurm.sbatch")], cwd=out, env=_slurm_env(stubs, out, run_dir, STUB_SLEEP="3")
    )
    try:
        deadline = time.monotonic() + 30
        while not stubs.calls("axolotl") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert json.loads((run_dir / "slurm-state.json").read_text())["state"] == "running"
        proc.send_signal(getattr(signals, f"SIG{sig}"))
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    got = json.loads((run_dir / "slurm-state.json").read_text())
    assert (got["state"], got["exit_code"]) == (state, code)


def test_slurm_sbatch_on_the_time_limit_signal_asks_the_trainer_to_save_then_requeues(built, stubs, tmp_path):
    """Under ftgen run, SIGUSR1 creates FTGEN_SAVE_FILE (ftgen's trainer hook saves a checkpoint and stops on it);
    once the trainer has stopped after that save, the job requeues itself and records `requeued`."""
    import signal as signals
    import time

    out = built("cpu-tiny-local-model")
    run_dir = _run_folder(out, tmp_path)
    save, stopped = run_dir / ".save", run_dir / ".stopped.json"
    stubs.log.unlink(missing_ok=True)
    env = _slurm_env(stubs, out, run_dir, STUB_SLEEP="3", FTGEN_SAVE_FILE=str(save), FTGEN_STOPPED_FILE=str(stopped))
    proc = subprocess.Popen(["bash", str(out / "slurm.sbatch")], cwd=out, env=env)
    try:
        deadline = time.monotonic() + 30
        while not stubs.calls("axolotl") and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signals.SIGUSR1)
        while not save.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert save.exists() and proc.poll() is None  # the trainer is asked, not killed
        stopped.write_text('{"step": 7}')  # what the hook writes after its save
        while not any(c["argv"][:1] == ["requeue"] for c in stubs.calls("scontrol")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c["argv"] for c in stubs.calls("scontrol") if c["argv"][:1] == ["requeue"]] == [["requeue", "77"]]
        assert json.loads((run_dir / "slurm-state.json").read_text())["state"] == "requeued"
        proc.send_signal(signals.SIGTERM)  # Slurm ends the attempt it requeued
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((run_dir / "slurm-state.json").read_text())["state"] == "requeued"  # not `cancelled`


def test_slurm_sbatch_requeued_job_lets_ftgen_point_the_config_at_the_checkpoint(built, stubs, tmp_path):
    out = built("cpu-tiny-local-model")
    run_dir = _run_folder(out, tmp_path)
    env = _slurm_env(stubs, out, run_dir, SLURM_RESTART_COUNT="1", FTGEN_PYTHON=str(stubs.bin / "python"))
    r = stubs.run(["bash", str(out / "slurm.sbatch")], out, env)
    assert r.returncode == 0, r.stderr
    [call] = stubs.calls("python")
    assert "requeued" in call["argv"][1] and call["argv"][2:] == [str(run_dir)]
    assert [c["tool"] for c in stubs.calls()].index("python") < [c["tool"] for c in stubs.calls()].index("srun")
    r = stubs.run(["bash", str(out / "slurm.sbatch")], out, {**env, "SLURM_RESTART_COUNT": "0"})
    assert r.returncode == 0 and not stubs.calls("python")  # a first start trains from the config as written


def test_sky_run_uses_skypilot_rank_and_first_ip(built, stubs, tmp_path):
    out = built("zero3-full-70b-4-nodes")
    sky = yaml.safe_load((out / "sky.yaml").read_text())
    assert sky["workdir"] == "." and sky["resources"]["accelerators"] == "H100:8"
    env = stubs.env(
        FTGEN_ENV_BIN=str(stubs.bin),
        HOME=str(tmp_path),
        SKYPILOT_NODE_IPS="10.1.0.5\n10.1.0.6\n10.1.0.7\n10.1.0.8",
        SKYPILOT_NODE_RANK="1",
        SKYPILOT_NUM_NODES="4",
        SKYPILOT_NUM_GPUS_PER_NODE="8",
        **{k: str(v) for k, v in sky["envs"].items()},
    )
    r = stubs.run(["bash", "-c", sky["run"]], out, env)
    assert r.returncode == 0, r.stderr
    [call] = stubs.calls("axolotl")
    assert call["argv"][-10:] == [
        "--nnodes",
        "4",
        "--nproc_per_node",
        "8",
        "--node_rank",
        "1",
        "--master_addr",
        "10.1.0.5",
        "--master_port",
        "29500",
    ]


def test_pytorchjob_command_uses_the_operator_variables(built, stubs):
    out = built("zero3-full-70b-4-nodes")
    job = yaml.safe_load((out / "pytorchjob.yaml").read_text())
    worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 3 and job["spec"]["nprocPerNode"] == "8"
    container = worker["template"]["spec"]["containers"][0]
    env = stubs.env(
        FTGEN_ENV_BIN=str(stubs.bin),
        MASTER_ADDR="ftgen-x-master-0",
        MASTER_PORT="23456",
        PET_NNODES="4",
        PET_NODE_RANK="1",
        PET_NPROC_PER_NODE="8",
        **{e["name"]: e["value"] for e in container["env"] if "value" in e},
    )
    r = stubs.run(container["command"], out, env)
    assert r.returncode == 0, r.stderr
    assert stubs.calls("python")[0]["argv"] == ["-m", "pip", "install", "--quiet", "ftgen"]
    assert stubs.calls("axolotl")[0]["argv"][-6:] == [
        "--node_rank",
        "1",
        "--master_addr",
        "ftgen-x-master-0",
        "--master_port",
        "23456",
    ]


# ------------------------------------------------------------------ launch_command and submit


class _Env:
    def __init__(self, bin_dir: Path, flavor: str = "cuda"):
        self.bin_dir, self.torch_flavor = bin_dir, flavor

    def cli(self, name):
        return self.bin_dir / name


def test_launch_command_llamafactory(tmp_path):
    env = _Env(tmp_path)
    argv, extra = launch_command("llamafactory", "cfg.yaml", env, launcher="local", nproc=1)
    assert argv == [str(tmp_path / "llamafactory-cli"), "train", "cfg.yaml"]
    assert extra == {"FORCE_TORCHRUN": "0", "NPROC_PER_NODE": "1"}
    argv, extra = launch_command("llamafactory", "cfg.yaml", env, launcher="torchrun", nproc=2)
    assert extra == {"FORCE_TORCHRUN": "1", "NNODES": "1", "NODE_RANK": "0", "NPROC_PER_NODE": "2"}
    _, extra = launch_command(
        "llamafactory", "cfg.yaml", env, launcher="torchrun", nproc=8, nnodes=2, node_rank=1, master_addr="10.0.0.1"
    )
    assert extra["MASTER_ADDR"] == "10.0.0.1" and extra["MASTER_PORT"] == "29500" and extra["NODE_RANK"] == "1"
    ds = tmp_path / "ds.yaml"
    ds.write_text("deepspeed: deepspeed_zero3.json\n")
    assert launch_command("llamafactory", ds, env, launcher="local", nproc=1)[1]["FORCE_TORCHRUN"] == "1"


def test_launch_command_axolotl(tmp_path):
    env = _Env(tmp_path)
    argv, extra = launch_command("axolotl", "a.yaml", env, launcher="local", nproc=1)
    assert argv[1:] == ["train", "a.yaml", "--launcher", "python"] and extra == {}
    argv, _ = launch_command("axolotl", "a.yaml", env, launcher="local", nproc=4)
    assert argv[3:] == ["--launcher", "torchrun", "--", "--nnodes", "1", "--nproc_per_node", "4", "--standalone"]
    argv, _ = launch_command(
        "axolotl",
        "a.yaml",
        env,
        launcher="torchrun",
        nproc=8,
        nnodes=2,
        node_rank=1,
        master_addr="h0",
        master_port=1234,
    )
    assert argv[-6:] == ["--node_rank", "1", "--master_addr", "h0", "--master_port", "1234"]


def test_launch_command_refuses_what_cannot_work(tmp_path):
    with pytest.raises(FtgenError, match="Axolotl cannot run more than one process on CPU"):
        launch_command("axolotl", "a.yaml", _Env(tmp_path, "cpu"), launcher="torchrun", nproc=2)
    with pytest.raises(FtgenError, match="address of node 0"):
        launch_command("llamafactory", "c.yaml", _Env(tmp_path), launcher="torchrun", nproc=8, nnodes=2)
    with pytest.raises(FtgenError, match="re-splits"):
        launch_command("llamafactory", "my dir/c.yaml", _Env(tmp_path), launcher="torchrun", nproc=2)
    with pytest.raises(FtgenError) as exc:
        launch_command("keras", "c.yaml", _Env(tmp_path), launcher="slurm", nproc=0)
    assert {p.key for p in exc.value.problems} == {"framework", "--launcher", "--nproc"}


def test_submit_prints_the_command_without_the_tool_and_runs_it_with(built, stubs, monkeypatch, tmp_path):
    out = built("zero3-full-70b-4-nodes")
    # a PATH with no sbatch or sky on it, whatever this machine has installed (CI may have a real Slurm)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    s = submit(out, "slurm")
    assert not s.ran and s.argv == ("sbatch", "slurm.sbatch")
    assert f"cd {out} && sbatch slurm.sbatch" in str(s)
    s = submit(out, "skypilot")
    assert s.argv == ("sky", "launch", "-c", "ftgen-zero3-full-70b-4-nodes", "sky.yaml") and not s.ran
    monkeypatch.setenv("PATH", f"{stubs.bin}:/usr/bin:/bin")
    monkeypatch.setenv("STUB_LOG", str(stubs.log))
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    s = submit(out, "slurm")
    assert s.ran and str(s) == "Submitted batch job 4242"
    assert stubs.calls("sbatch")[0]["cwd"] == str(out)
    s = submit(out, "skypilot")
    [call] = stubs.calls("sky")
    assert call["argv"][-2:] == ["--secret", "HF_TOKEN"] and "hf_secret" not in call["argv"]
    monkeypatch.setenv("STUB_EXIT", "1")
    with pytest.raises(FtgenError) as exc:
        submit(out, "slurm")
    assert exc.value.exit_code == 3
    with pytest.raises(FtgenError, match="CPU build writes launch.sh and slurm.sbatch"):
        submit(built("cpu-tiny-local-model"), "skypilot")


# ------------------------------------------------------------------ the spec's cluster: block


def test_time_limit_is_the_spec_time_or_the_plan_estimate_with_a_margin():
    from generator.launch._context import time_limit

    assert time_limit("2-00:00:00", 0.5) == ("2-00:00:00", "cluster.time in the spec")
    assert time_limit(None, 0.1)[0] == "00:24:00"  # 6 min x 1.5 + 15 min
    assert time_limit(None, 30.0)[0] == "1-21:15:00"  # 45 h + 15 min
    limit, why = time_limit(None, None)
    assert limit is None and "cluster.time" in why


def test_cluster_block_writes_partition_account_time_and_extra_sbatch_lines(built):
    import dataclasses

    from generator.launch import context, render_all

    ctx = dataclasses.replace(
        context(build_file(CASES / "ddp-lora-4xa100.yaml")),
        partition="gpu",
        account="team-a",
        time_limit="12:00:00",
        signal_seconds=600,
        sbatch_extra=("--qos=high", "--constraint=a100"),
    )
    text = render_all(ctx)["slurm.sbatch"]
    for line in (
        "#SBATCH --time=12:00:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=team-a",
        "#SBATCH --signal=B:USR1@600",
        "#SBATCH --qos=high",
        "#SBATCH --constraint=a100",
    ):
        assert line + "\n" in text
    header = text.split("set -euo pipefail")[0]
    assert header.index("#SBATCH --qos=high") < header.index("#SBATCH --output=")
    with pytest.raises(FtgenError, match="cannot be written on an #SBATCH line"):
        render_all(dataclasses.replace(ctx, sbatch_extra=("--comment=a b\n#SBATCH --uid=0",)))


@pytest.mark.parametrize(
    "cluster,key,message",
    [
        ({"sbatch": ["--time=5"]}, "cluster.sbatch[0]", "writes this option itself"),
        ({"sbatch": ["--qos=high\n--uid=0"]}, "cluster.sbatch[0]", ""),
        ({"time": "two hours"}, "cluster.time", ""),
        ({"partition": "gpu; rm -rf /"}, "cluster.partition", ""),
    ],
)
def test_spec_cluster_block_refuses_what_sbatch_cannot_take(cluster, key, message):
    from generator import spec as specmod

    data = {
        "name": "x",
        "base_model": "m",
        "data": {"train": [{"path": "t.jsonl", "format": "alpaca"}]},
        "cluster": cluster,
    }
    with pytest.raises(FtgenError) as exc:
        specmod.from_dict(data, "spec.yaml", Path("."), {}, "")
    assert any(p.key == key and message in p.message for p in exc.value.problems), exc.value.render()


def test_skypilot_run_records_cluster_job_name_and_how_to_follow_it(built, stubs, monkeypatch):
    from generator.run import derive_status, skypilot
    from generator.run.summary import RunSummary

    out = built("ddp-lora-4xa100")
    monkeypatch.setenv("PATH", "/nonexistent")
    record, sub = skypilot.submit(out)
    assert record is None and not sub.ran  # no sky here: nothing submitted, nothing recorded
    monkeypatch.setenv("PATH", f"{stubs.bin}:/usr/bin:/bin")
    monkeypatch.setenv("STUB_LOG", str(stubs.log))
    record, sub = skypilot.submit(out)
    assert sub.ran and record.launcher == "skypilot" and record.status == "queued"
    sched = record.scheduler
    assert sched["cluster"] == sched["job_name"] == "ftgen-ddp-lora-4xa100"
    rows = dict(RunSummary.of(record, derive_status(record)).rows())
    assert rows["scheduler"] == "SkyPilot cluster ftgen-ddp-lora-4xa100, task ftgen-ddp-lora-4xa100"
    shown = [v for k, v in RunSummary.of(record).rows() if k == "follow"]
    assert "sky logs ftgen-ddp-lora-4xa100" in shown


@pytest.mark.parametrize(
    "files,out,sky,k8s",
    [
        # a spec in specs/, its data in data/, built to specs/outputs/<name>: the common ancestor is the root
        (
            ["data/train.jsonl"],
            "/r/specs/outputs/b",
            [("~/ftgen-tree/specs/outputs/b", "."), ("~/ftgen-tree/data/train.jsonl", "../../../data/train.jsonl")],
            [("/data", "data")],
        ),
        # data beside the build folder's parent (outputs/): on the outputs volume already, no PVC mount
        (["outputs/d.jsonl"], "/r/outputs/b", [("~/ftgen-tree/b", "."), ("~/ftgen-tree/d.jsonl", "../d.jsonl")], []),
        # an absolute path stays absolute in the configs: placed at the same absolute path
        (
            ["/srv/d/a.jsonl"],
            "/r/outputs/b",
            [("~/ftgen-tree", "."), ("/srv/d/a.jsonl", "/srv/d/a.jsonl")],
            [("/srv/d", "srv/d")],
        ),
        # in the build folder itself: workdir carries it
        (["outputs/b/in.jsonl"], "/r/outputs/b", [], []),
    ],
)
def test_cluster_data_places_outside_files_where_the_configs_paths_find_them(files, out, sky, k8s):
    from generator.launch._context import cluster_data

    got = cluster_data(files, Path("/r"), Path(out), "b")
    assert list(got.sky_mounts) == sky and list(got.k8s_mounts) == k8s


def test_sky_yaml_file_mounts_put_outside_data_where_the_build_config_finds_it(built, tmp_path):
    """Do what SkyPilot does with file_mounts (copy each local source, relative to where sky runs, to its remote
    path; ~ is the remote home), start where `run` cds, and read the data through the config's own path."""
    out = built("local-and-hub-data")
    sky = yaml.safe_load((out / "sky.yaml").read_text())
    assert "workdir" not in sky and sky["file_mounts"]
    home = tmp_path / "remote-home"
    for remote, local in sky["file_mounts"].items():
        target = home / remote.removeprefix("~/")
        source = (out / local).resolve()
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("runs"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    [cd] = [line.split()[1] for line in sky["run"].splitlines() if line.strip().startswith("cd ")]
    start = home / cd.removeprefix("~/")
    info = json.loads((start / "dataset_info.json").read_text())
    local = [d["file_name"] for d in info.values() if not d.get("hf_hub_url")]
    assert local and all((start / name).is_file() for name in local)
    assert (start / "launch.sh").is_file()
    pj = yaml.safe_load((out / "pytorchjob.yaml").read_text())
    pod = pj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "data"}
    for name in local:  # the pod's build folder is /workspace/<name>
        folder = os.path.dirname(os.path.normpath(f"/workspace/{out.name}/{name}"))
        assert mounts[folder]["subPath"] == folder.lstrip("/")
    assert any(v["name"] == "data" and v["persistentVolumeClaim"]["claimName"] == "ftgen-data" for v in pod["volumes"])
