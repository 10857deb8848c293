"""Tests for generator.envs: the env table, install atomicity, manifests, external envs and subprocess vars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator import envs
from generator.envs import _install, _specs
from generator.errors import FtgenError

PYVER = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / PYVER / "site-packages"


def _add_fake_dist(venv: Path, module: str, dist: str, version: str) -> None:
    site = _site_packages(venv)
    (site / module).mkdir(parents=True, exist_ok=True)
    (site / module / "__init__.py").write_text(f"__version__ = {version!r}\n")
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")


def _make_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


class FakeRunner:
    """Stands in for _install._run_command: a real (pip-less) venv, fake pip steps."""

    def __init__(self, fail_at: int | None = None, interrupt_at: int | None = None, version: str = "0.19.0"):
        self.calls: list[list[str]] = []
        self.fail_at = fail_at
        self.interrupt_at = interrupt_at
        self.version = version

    def __call__(self, argv, log, env):
        self.calls.append(list(argv))
        n = len(self.calls)
        with log.open("a") as fh:
            fh.write(f"$ {' '.join(argv)}\n")
            if self.fail_at == n:
                fh.write("ERROR: No matching distribution found for torch==2.13.0\n")
                return 1
        if self.interrupt_at == n:
            raise KeyboardInterrupt
        if argv[1:3] == ["-m", "venv"]:
            target = Path(argv[3])
            _make_venv(target)
            # a console script whose shebang names the temp folder, as pip writes them
            (target / "bin" / "activate").write_text(f'VIRTUAL_ENV="{target}"\nPS1="({target.name}) $PS1"\n')
            script = target / "bin" / "axolotl"
            script.write_text(f"#!{target}/bin/python\nimport sys\n")
            script.chmod(0o755)
            return 0
        if any(a.startswith("axolotl==") for a in argv):
            venv = Path(argv[0]).parent.parent
            _add_fake_dist(venv, "axolotl", "axolotl", self.version)
        return 0


@pytest.fixture
def fake_runner(monkeypatch):
    def make(**kw):
        runner = FakeRunner(**kw)
        monkeypatch.setattr(_install, "_run_command", runner)
        return runner

    return make


# ------------------------------------------------------------------ table, root, torch flavor


def test_specs_table_pins_versions_and_steps():
    assert set(envs.SPECS) == {"axolotl", "llamafactory"}
    assert envs.SPECS["axolotl"].version == "0.19.0"
    assert envs.SPECS["llamafactory"].version == "0.9.5"
    for spec in envs.SPECS.values():
        assert spec.steps[0].action == "venv"
        assert all(step.description for step in spec.steps)
        assert any("{torch}" in step.pip for step in spec.steps)
    lf_args = [a for s in envs.SPECS["llamafactory"].steps for a in _specs.expand_pip_args(s, "cpu")]
    assert "gradio==5.50.0" in lf_args
    assert "llamafactory==0.9.5" in lf_args and "--no-deps" in lf_args
    names = {a.split("<")[0].split(">")[0].split("=")[0].split("!")[0] for a in lf_args}
    assert "torchvision" not in names and "omegaconf" in names


def test_torch_requirement_per_flavor():
    assert _specs.torch_requirement("cpu") == "torch==2.13.0"
    assert _specs.torch_requirement("cuda") == "torch===2.13.0"  # never matches 2.13.0+cpu


def test_python_requirement_parser():
    assert _specs.python_satisfies(">=3.10", (3, 11, 7))
    assert not _specs.python_satisfies(">=3.12", (3, 11, 7))
    assert _specs.python_satisfies(">=3.10,<3.13", (3, 12, 0))
    assert not _specs.python_satisfies(">=3.10,<3.12", (3, 12, 1))


def test_env_root_default_home_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("FTGEN_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert envs.env_root() == tmp_path / "home" / ".cache" / "ftgen" / "envs"
    monkeypatch.setenv("FTGEN_HOME", str(tmp_path / "fh"))
    assert envs.env_root() == tmp_path / "fh" / "envs"
    assert envs.env_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_resolve_torch_flavor(monkeypatch):
    monkeypatch.setattr(_install.shutil, "which", lambda name: None)
    assert envs.resolve_torch_flavor("auto") == "cpu"
    assert envs.resolve_torch_flavor("cuda") == "cuda"
    with pytest.raises(FtgenError) as exc:
        envs.resolve_torch_flavor("rocm")
    assert exc.value.problems[0].allowed == "auto, cpu, cuda"


def test_unknown_framework_names_allowed():
    with pytest.raises(FtgenError) as exc:
        envs.get_env("unsloth", "/nonexistent")
    problem = exc.value.problems[0]
    assert problem.found == "unsloth" and "axolotl" in problem.allowed


# ------------------------------------------------------------------ install


def test_install_success_writes_manifest_and_relocates(tmp_path, fake_runner):
    runner = fake_runner()
    seen = []
    env = envs.install("axolotl", root=tmp_path, torch="cpu", progress=lambda i, n, d: seen.append((i, n, d)))
    final = tmp_path / "axolotl-0.19.0-cpu"
    assert env.root == final and env.python == final / "bin" / "python"
    assert env.python.exists() and env.venv == final and not env.external
    manifest = json.loads((final / envs.MANIFEST).read_text())
    assert manifest["framework"] == "axolotl" and manifest["version"] == "0.19.0"
    assert manifest["torch_flavor"] == "cpu" and manifest["external"] is False
    assert manifest["versions"]["axolotl"] == "0.19.0"
    assert manifest["python"] == str(final / "bin" / "python")
    assert manifest["size_mb"] >= 0 and manifest["created_at"]
    assert all(str(tmp_path / ".tmp-") not in c for c in manifest["install_commands"])
    # console scripts and pyvenv.cfg point at the final folder, not the temp one
    assert (final / "bin" / "axolotl").read_text().startswith(f"#!{final}/bin/python\n")
    assert ".tmp-" not in (final / "pyvenv.cfg").read_text()
    assert (final / "bin" / "activate").read_text() == f'VIRTUAL_ENV="{final}"\nPS1="({final.name}) $PS1"\n'
    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    assert not list(tmp_path.glob(".tmp-*"))
    assert [s[0] for s in seen] == list(range(1, len(seen) + 1)) and seen[-1][0] == seen[-1][1]
    assert envs.get_env("axolotl", tmp_path) == env
    # the pip steps went through the new env's python and pinned torch each time
    pip_calls = [c for c in runner.calls if c[1:3] == ["-m", "pip"]]
    assert pip_calls and all(".tmp-axolotl-0.19.0-cpu-" in c[0] for c in pip_calls)
    assert any("torch==2.13.0" in c for c in pip_calls)


def test_failed_step_leaves_no_env_and_says_how_to_retry(tmp_path, fake_runner):
    fake_runner(fail_at=3)  # venv, upgrade pip, torch <- fails
    with pytest.raises(envs.EnvInstallError) as exc:
        envs.install("axolotl", root=tmp_path, torch="cpu")
    err = exc.value
    assert err.step == "install torch (cpu)"
    assert "torch==2.13.0" in err.command
    assert "No matching distribution" in err.output_tail
    text = err.render()
    assert "step 3/7" in text and "ftgen env install axolotl" in text and f"--env-dir {tmp_path}" in text
    assert not (tmp_path / "axolotl-0.19.0-cpu").exists()
    assert not list(tmp_path.glob(".tmp-*"))
    assert (tmp_path / ".logs" / "axolotl-0.19.0-cpu.log").is_file()
    assert envs.get_env("axolotl", tmp_path) is None
    assert envs.list_envs(tmp_path) == []


def test_interrupted_install_leaves_nothing(tmp_path, fake_runner):
    fake_runner(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        envs.install("axolotl", root=tmp_path, torch="cpu")
    assert not (tmp_path / "axolotl-0.19.0-cpu").exists()
    assert not list(tmp_path.glob(".tmp-*"))
    assert envs.get_env("axolotl", tmp_path) is None


def test_install_that_does_not_import_is_not_recorded(tmp_path, fake_runner):
    fake_runner(version="0.18.0")  # pip "succeeded" but the wrong version landed
    with pytest.raises(envs.EnvInstallError) as exc:
        envs.install("axolotl", root=tmp_path, torch="cpu")
    assert "not importable" in exc.value.render()
    assert not (tmp_path / "axolotl-0.19.0-cpu").exists()


def test_healthy_env_is_reused_unless_forced(tmp_path, fake_runner):
    first = fake_runner()
    env = envs.install("axolotl", root=tmp_path, torch="cpu")
    second = fake_runner()
    assert envs.install("axolotl", root=tmp_path, torch="cpu") == env
    assert second.calls == []
    third = fake_runner()
    stamp = json.loads((env.root / envs.MANIFEST).read_text())["created_at"]
    envs.install("axolotl", root=tmp_path, torch="cpu", force=True)
    assert third.calls and first.calls
    assert json.loads((env.root / envs.MANIFEST).read_text())["created_at"] >= stamp
    assert not list(tmp_path.glob(".old-*")) and not list(tmp_path.glob(".tmp-*"))


def test_half_env_without_manifest_is_broken_and_replaced(tmp_path, fake_runner):
    half = tmp_path / "axolotl-0.19.0-cpu"
    (half / "bin").mkdir(parents=True)
    assert envs.get_env("axolotl", tmp_path) is None
    [info] = envs.list_envs(tmp_path)
    assert info.health == "broken" and "manifest" in info.detail
    fake_runner()
    env = envs.install("axolotl", root=tmp_path, torch="cpu")
    assert env.root == half and (half / envs.MANIFEST).is_file()


def test_stale_temp_dirs_of_dead_installs_are_removed(tmp_path, fake_runner):
    stale = tmp_path / ".tmp-axolotl-0.19.0-cpu-abandoned"
    stale.mkdir(parents=True)
    (stale / ".ftgen-installing").write_text("999999999")
    fake_runner()
    envs.install("axolotl", root=tmp_path, torch="cpu")
    assert not stale.exists()


def test_python_requirement_is_checked(tmp_path, monkeypatch, fake_runner):
    from generator import frameworks

    fw = frameworks.get("axolotl")
    monkeypatch.setattr(fw, "env", _specs.EnvSpec(**{**fw.env.__dict__, "python": ">=9.0"}))
    runner = fake_runner()
    with pytest.raises(FtgenError) as exc:
        envs.install("axolotl", root=tmp_path, torch="cpu")
    assert exc.value.problems[0].allowed == ">=9.0"
    assert runner.calls == []


def test_manifest_write_is_atomic(tmp_path, monkeypatch):
    _install.write_manifest(tmp_path, {"framework": "axolotl", "version": "0.19.0", "python": "/x"})
    before = (tmp_path / envs.MANIFEST).read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(_install.json, "dump", boom)
    with pytest.raises(OSError):
        _install.write_manifest(tmp_path, {"framework": "axolotl", "version": "9", "python": "/y"})
    assert (tmp_path / envs.MANIFEST).read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [envs.MANIFEST]


def test_missing_python_makes_env_broken(tmp_path, fake_runner):
    fake_runner()
    env = envs.install("axolotl", root=tmp_path, torch="cpu")
    [info] = envs.list_envs(tmp_path)
    assert info.health == "ok" and info.framework == "axolotl" and info.size_mb is not None
    env.python.unlink()
    assert envs.get_env("axolotl", tmp_path) is None
    [info] = envs.list_envs(tmp_path)
    assert info.health == "broken" and "python missing" in info.detail


# ------------------------------------------------------------------ external


def test_use_external_records_and_is_preferred(tmp_path):
    venv = _make_venv(tmp_path / "myvenv")
    _add_fake_dist(venv, "axolotl", "axolotl", "0.19.0")
    root = tmp_path / "envs"
    env = envs.use_external("axolotl", venv / "bin" / "python", root)
    assert env.external and env.python == venv / "bin" / "python"
    assert env.venv == venv and env.bin_dir == venv / "bin"
    assert env.cli("axolotl") == venv / "bin" / "axolotl"
    manifest = json.loads((root / "axolotl-0.19.0-external" / envs.MANIFEST).read_text())
    assert manifest["external"] is True and manifest["versions"]["axolotl"] == "0.19.0"
    assert envs.get_env("axolotl", root) == env
    [info] = envs.list_envs(root)
    assert info.health == "external"


def test_use_external_checks_the_version(tmp_path):
    venv = _make_venv(tmp_path / "old")
    _add_fake_dist(venv, "axolotl", "axolotl", "0.12.2")
    with pytest.raises(FtgenError) as exc:
        envs.use_external("axolotl", venv / "bin" / "python", tmp_path / "envs")
    problem = exc.value.problems[0]
    assert "0.12.2" in problem.found and problem.allowed == "axolotl==0.19.0"
    with pytest.raises(FtgenError) as exc:
        envs.use_external("llamafactory", venv / "bin" / "python", tmp_path / "envs")
    assert "not installed" in exc.value.problems[0].message
    with pytest.raises(FtgenError) as exc:
        envs.use_external("axolotl", tmp_path / "nope" / "python", tmp_path / "envs")
    assert "not found" in exc.value.problems[0].message
    assert envs.get_env("axolotl", tmp_path / "envs") is None


# ------------------------------------------------------------------ subprocess environment


@pytest.mark.parametrize(
    "trackers,user,wandb_mode",
    [
        ((), {}, "disabled"),  # no tracking block: W&B off whatever the caller says
        ((), {"WANDB_MODE": "online"}, "disabled"),
        (("mlflow",), {}, "disabled"),  # MLflow only: W&B stays off
        (("wandb",), {}, None),  # W&B asked for: not disabled (its own default mode)
        (("wandb",), {"WANDB_MODE": "offline"}, "offline"),  # the caller's mode stands
        (("wandb",), {"WANDB_MODE": "disabled", "WANDB_DISABLED": "true"}, None),  # an inherited off switch goes
    ],
)
def test_subprocess_env_leaves_the_specs_trackers_on(tmp_path, trackers, user, wandb_mode):
    env = envs.Env("llamafactory", "0.9.5", tmp_path, tmp_path / "bin" / "python", tmp_path / "bin", venv=tmp_path)
    base = {"PATH": "", "DISABLE_MLFLOW_INTEGRATION": "TRUE", "WANDB_API_KEY": "k", **user}
    out = env.subprocess_env(base=base, trackers=trackers)
    assert out.get("WANDB_MODE") == wandb_mode
    assert ("WANDB_DISABLED" in out) == ("wandb" not in trackers)
    assert ("DISABLE_MLFLOW_INTEGRATION" in out) == ("mlflow" not in trackers)
    assert out["DO_NOT_TRACK"] == "1" and out["WANDB_API_KEY"] == "k"  # usage telemetry off; tokens pass through


def test_subprocess_env_wiring(tmp_path):
    env = envs.Env("axolotl", "0.19.0", tmp_path, tmp_path / "bin" / "python", tmp_path / "bin", venv=tmp_path)
    base = {"PATH": "/usr/bin", "HF_TOKEN": "hf_secret", "WANDB_API_KEY": "k", "PYTHONPATH": "/ftgen", "HOME": "/h"}
    out = env.subprocess_env({"CUDA_VISIBLE_DEVICES": "0", "WANDB_MODE": "online"}, base=base)
    assert out["PATH"].split(os.pathsep)[0] == str(tmp_path / "bin")
    assert out["PATH"].endswith("/usr/bin")
    assert out["VIRTUAL_ENV"] == str(tmp_path)
    for key in ("AXOLOTL_DO_NOT_TRACK", "DO_NOT_TRACK", "PYTHONUNBUFFERED"):
        assert out[key] == "1"
    assert out["WANDB_DISABLED"] == "true"
    assert "DISABLE_VERSION_CHECK" not in out  # LLaMA-Factory's own switch: only in its env
    lf = envs.Env("llamafactory", "0.9.5", tmp_path, tmp_path / "bin" / "python", tmp_path / "bin", venv=tmp_path)
    lf_out = lf.subprocess_env(base=base)
    assert lf_out["DISABLE_VERSION_CHECK"] == "1" and lf_out["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert "AXOLOTL_DO_NOT_TRACK" not in lf_out
    assert out["WANDB_MODE"] == "online"  # extra wins
    assert out["CUDA_VISIBLE_DEVICES"] == "0"
    assert out["HF_TOKEN"] == "hf_secret" and out["WANDB_API_KEY"] == "k"  # secrets pass through
    assert "PYTHONPATH" not in out
    shown = envs.redact(out)
    assert shown["HF_TOKEN"] == "***" and shown["WANDB_API_KEY"] == "***" and shown["HOME"] == "/h"
    # a user with network keeps it: nothing turns the hub off
    assert not {"HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"} & set(out)


OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.mark.parametrize(
    ("user", "offline"),
    [
        ({}, False),
        ({"HF_HUB_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "true"}, True),
        ({"HF_HUB_OFFLINE": "0"}, False),
        ({"FTGEN_OFFLINE": "yes"}, True),  # what `ftgen run --offline` sets
        ({"FTGEN_OFFLINE": "0", "HF_ENDPOINT": "http://mirror"}, False),
    ],
)
def test_subprocess_env_is_offline_only_when_the_user_says_so(user, offline, tmp_path):
    env = envs.Env("axolotl", "0.19.0", tmp_path, tmp_path / "bin" / "python", tmp_path / "bin")
    out = env.subprocess_env(base={"PATH": "", **user})
    got = {k: out[k] for k in OFFLINE if k in out}
    assert got == (OFFLINE if offline else {k: v for k, v in user.items() if k in OFFLINE})
    assert out["WANDB_MODE"] == "disabled" and out["DO_NOT_TRACK"] == "1"  # telemetry stays off either way
    if "HF_ENDPOINT" in user:
        assert out["HF_ENDPOINT"] == "http://mirror"  # a mirror or a test hub reaches the framework


def test_subprocess_env_of_plain_interpreter_has_no_virtual_env(tmp_path):
    env = envs.Env("llamafactory", "0.9.5", tmp_path, Path(sys.executable), Path(sys.executable).parent, external=True)
    out = env.subprocess_env(base={"VIRTUAL_ENV": "/other", "PATH": ""})
    assert "VIRTUAL_ENV" not in out and out["PATH"] == str(Path(sys.executable).parent)


def test_env_scripts_do_not_import_generator():
    for script in envs.script_path("env_probe.py").parent.glob("*.py"):
        text = script.read_text()
        assert "import generator" not in text and "from generator" not in text, script
        assert text.lstrip().startswith('"""'), f"{script.name} needs a one-line docstring"


def test_probe_script_reports_versions(tmp_path):
    venv = _make_venv(tmp_path / "v")
    _add_fake_dist(venv, "llamafactory", "llamafactory", "0.9.5")
    out = envs.run_json(venv / "bin" / "python", "env_probe.py", ["llamafactory", "llamafactory", "torch"])
    assert out["module_found"] is True
    assert out["packages"] == {"llamafactory": "0.9.5", "torch": None}
    assert out["prefix"] != out["base_prefix"]


@pytest.mark.parametrize(
    ("framework", "extra"), [("axolotl", "axolotl[deepspeed]==0.19.0"), ("llamafactory", "liger-kernel==0.8.1")]
)
def test_cuda_envs_get_the_gpu_extras_cpu_envs_do_not(framework, extra, tmp_path, fake_runner, monkeypatch):
    """`--torch cuda` installs what GPU plans use (DeepSpeed, Liger) as the frameworks' own extras do; flash-attn is
    left out (source only on PyPI: a long CUDA build) and the env spec says so."""
    monkeypatch.setattr(_install, "_verify_torch", lambda *a, **k: None, raising=False)
    for flavor in ("cpu", "cuda"):
        runner = fake_runner()
        try:
            envs.install(framework, root=tmp_path / flavor, torch=flavor)
        except FtgenError:
            pass  # a fake env may fail verification after the steps ran; the steps are what is checked
        args = [a for call in runner.calls for a in call]
        assert (extra in args) is (flavor == "cuda"), (flavor, args)
        assert not any(a.startswith("flash-attn") for a in args)
    cuda_only = [s for s in envs.SPECS[framework].steps if s.flavors == ("cuda",)]
    assert cuda_only and all("GPU extras" in s.description for s in cuda_only)
