"""`ftgen run` and `ftgen validate` check that the framework env can import what the config needs (DeepSpeed,
Liger, flash-attn) before training, and name the exact install command otherwise (issue 17, item 1). The env is
probed through its own Python (find_spec, no torch import in ftgen); here the probe is faked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator import frameworks
from generator.envs import _needs
from generator.envs._env import Env

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "outputs"


def _env(tmp_path: Path, framework: str, flavor: str = "cuda") -> Env:
    return Env(
        framework=framework,
        version="x",
        root=tmp_path / "env",
        python=tmp_path / "env" / "bin" / "python",
        bin_dir=tmp_path / "env" / "bin",
        torch_flavor=flavor,
    )


def _config(name: str, framework: str) -> dict:
    return yaml.safe_load((OUT / name / f"{framework}.yaml").read_text())


@pytest.mark.parametrize(
    ("name", "framework", "modules"),
    [
        ("clinical-notes", "llamafactory", {"deepspeed", "flash_attn"}),
        ("code-assistant", "axolotl", {"liger_kernel", "flash_attn"}),
        ("code-assistant", "llamafactory", {"liger_kernel", "flash_attn"}),
        ("tiny-cpu", "llamafactory", set()),
        ("math-grpo", "axolotl", {"flash_attn"}),
    ],
)
def test_each_framework_says_what_its_config_needs(name, framework, modules):
    needs = frameworks.get(framework).needs(_config(name, framework))
    assert {n.module for n in needs} == modules


def test_missing_modules_stop_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(_needs, "probe", lambda python, mods: {m: m == "flash_attn" for m in mods})
    env = _env(tmp_path, "llamafactory")
    config = {**_config("clinical-notes", "llamafactory"), "enable_liger_kernel": True}  # ZeRO and Liger together
    found = _needs.problems("llamafactory", config, env, "llamafactory.yaml")
    by_key = {p.key: p for p in found}
    assert set(by_key) == {"deepspeed", "enable_liger_kernel"}
    assert by_key["deepspeed"].allowed == (
        f"install it into the env: {env.python} -m pip install --no-build-isolation deepspeed==0.16.9"
    )
    assert "cannot import liger_kernel" in by_key["enable_liger_kernel"].message


@pytest.mark.parametrize(
    ("framework", "module", "key", "config"),
    [
        ("axolotl", "deepspeed", "deepspeed", {"deepspeed": "ds.json"}),
        ("llamafactory", "deepspeed", "deepspeed", {"deepspeed": "ds.json"}),
        ("llamafactory", "wandb", "report_to", {"report_to": ["mlflow", "wandb"]}),
    ],
)
def test_the_install_command_is_the_env_install_step(framework, module, key, config):
    """What `ftgen run` tells a user to install is what `ftgen env install` runs (the same pip arguments but the
    torch pin the env already holds): DeepSpeed builds against the env's torch, so both need --no-build-isolation."""
    need = next(n for n in frameworks.get(framework).needs(config) if n.module == module)
    assert need.key == key
    steps = [tuple(a for a in s.pip if a != "{torch}") for s in frameworks.get(framework).env.steps]
    assert need.pip in steps


def test_probe_asks_the_env_python_without_importing(tmp_path):
    import sys

    found = _needs.probe(Path(sys.executable), ["json", "no_such_module_ftgen"])
    assert found == {"json": True, "no_such_module_ftgen": False}
    assert _needs.probe(tmp_path / "missing-python", ["json"]) == {"json": False}


def test_run_stops_before_training_when_the_env_lacks_a_module(tmp_path, monkeypatch):
    """`ftgen run` on a build whose config asks for Liger, with an env that cannot import it: exit 2, the install
    command, and no run folder left behind."""
    import shutil

    from generator import run as run_mod
    from generator.errors import FtgenError

    build = tmp_path / "code-assistant"
    shutil.copytree(OUT / "code-assistant", build, ignore=shutil.ignore_patterns("runs"))
    env = _env(tmp_path, "llamafactory")
    monkeypatch.setattr(run_mod, "_get_env", lambda fw, root: env)
    monkeypatch.setattr(_needs, "probe", lambda python, mods: {m: False for m in mods})
    with pytest.raises(FtgenError) as exc:
        run_mod.start(build, "llamafactory")
    keys = {p.key for p in exc.value.problems}
    assert {"enable_liger_kernel", "flash_attn"} <= keys
    assert all("-m pip install" in p.allowed for p in exc.value.problems)
    assert not [p for p in (build / "runs").glob("*") if p.is_dir()] if (build / "runs").exists() else True


def test_validate_reports_a_missing_module_as_not_checked_here(tmp_path, monkeypatch):
    import shutil

    from generator import envs, validate

    build = tmp_path / "code-assistant"
    shutil.copytree(OUT / "code-assistant", build, ignore=shutil.ignore_patterns("runs"))
    env = _env(tmp_path, "axolotl")
    monkeypatch.setattr(envs, "get_env", lambda fw, root=None: env)
    monkeypatch.setattr(_needs, "probe", lambda python, mods: {m: m != "liger_kernel" for m in mods})
    verdict = validate.validate_build(build, "axolotl")
    (c,) = verdict.configs
    assert c.status == "not checked here"
    assert "cannot import liger_kernel" in c.not_checked and "pip install liger-kernel==0.8.1" in c.not_checked


def test_validate_on_a_cpu_env_judges_gpu_configs_as_before(tmp_path, monkeypatch):
    """A CPU env is not where a GPU plan runs: its missing flash_attn does not keep the validator from judging."""
    import shutil

    from generator import envs, validate

    build = tmp_path / "code-assistant"
    shutil.copytree(OUT / "code-assistant", build, ignore=shutil.ignore_patterns("runs"))
    monkeypatch.setattr(envs, "get_env", lambda fw, root=None: _env(tmp_path, fw, "cpu"))
    asked = []
    monkeypatch.setattr(_needs, "probe", lambda python, mods: asked.append(mods) or {m: False for m in mods})
    monkeypatch.setattr(
        validate,
        "native_verdicts",
        lambda name, paths, env, hardware=None: {
            str(p.absolute()): validate.NativeVerdict(name, str(p)) for p in paths
        },
    )
    verdict = validate.validate_build(build, "axolotl")
    assert asked == [] and [c.status for c in verdict.configs] == ["accepted"]


def test_llamafactory_names_the_trackers_its_env_lacks():
    needs = frameworks.get("llamafactory").needs({"report_to": ["mlflow", "wandb", "tensorboard"]})
    assert {(n.module, n.key) for n in needs} == {("wandb", "report_to"), ("tensorboard", "report_to")}
    assert frameworks.get("llamafactory").needs({"report_to": "none"}) == []
