"""framework_overrides cannot make the framework import code the spec does not allow (issue 12, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator import _imports
from generator.build import build_file
from generator.errors import FtgenError

REPO = Path(__file__).resolve().parents[2]
BASE = {
    "name": "imports",
    "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
    "data": {"train": [{"path": "org/ds", "format": "alpaca"}], "examples": 5000},
    "hardware": {"gpu": "A100-80GB"},
    "framework": "axolotl",
}


def _build(tmp_path: Path, **extra):
    spec = {**BASE, **extra}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return build_file(path, tmp_path / "outputs")


def _refused(tmp_path: Path, **extra) -> list:
    with pytest.raises(FtgenError) as exc:
        _build(tmp_path, **extra)
    return exc.value.problems


# (override, key path of the finding, module that would be imported)
IMPORTING = [
    ({"plugins": ["evil_pkg.EvilPlugin"]}, "plugins[0]", "evil_pkg"),
    ({"datasets": [{"path": "org/ds", "type": "my_loaders.load_rows"}]}, "datasets[0].type", "my_loaders"),
    ({"test_datasets": [{"path": "org/ev", "type": "team.loaders.fmt"}]}, "test_datasets[0].type", "team.loaders"),
    ({"trainer_cls": "my_trainers.CustomTrainer"}, "trainer_cls", "my_trainers"),
    ({"trl": {"reward_funcs": ["scoring.exact"]}}, "trl.reward_funcs[0]", "scoring"),
    ({"trl": {"rollout_func": "rollouts.multi_turn"}}, "trl.rollout_func", "rollouts"),
    ({"vllm": {"serve_module": "evil.serve"}}, "vllm.serve_module", "evil.serve"),
]


@pytest.mark.parametrize(("override", "key", "module"), IMPORTING, ids=[k for _, k, _ in IMPORTING])
def test_an_override_that_imports_code_is_refused_with_the_reason(tmp_path, override, key, module):
    [p] = _refused(tmp_path, framework_overrides={"axolotl": override})
    assert p.key == f"framework_overrides.axolotl.{key}" and p.found == module
    assert "import and run" in p.message and "allow_imports" in p.message and p.line
    assert "allow_imports" in p.allowed


@pytest.mark.parametrize(("override", "key", "module"), IMPORTING, ids=[k for _, k, _ in IMPORTING])
def test_allow_imports_is_the_opt_in(tmp_path, override, key, module):
    b = _build(tmp_path, allow_imports=[module.split(".")[0]], framework_overrides={"axolotl": override})
    assert b.rendered[0].config[key.split(".")[0].split("[")[0]] is not None
    assert b.spec.allow_imports == (module.split(".")[0],)


def test_a_prefix_covers_whole_module_names_only(tmp_path):
    [p] = _refused(tmp_path, allow_imports=["my"], framework_overrides={"axolotl": {"trainer_cls": "mypkg.T"}})
    assert p.found == "mypkg"
    _build(tmp_path, allow_imports=["mypkg"], framework_overrides={"axolotl": {"trainer_cls": "mypkg.sub.T"}})
    assert _imports.allowed("a.b.c", ["a.b"]) and not _imports.allowed("a.bc", ["a.b"])


@pytest.mark.parametrize(
    "override",
    [
        {"plugins": ["axolotl.integrations.liger.LigerPlugin"]},
        {"plugins": ["liger.LigerPlugin"]},  # load_plugin also tries axolotl.integrations.<name>
        {"plugins": ["axolotl.integrations.kd.KDPlugin"]},
        {"datasets": [{"path": "org/ds", "type": "chat_template"}]},
        {"datasets": [{"path": "org/ds", "type": "alpaca:chat"}]},
        {"datasets": [{"path": "org/ds", "type": "alpaca_w_system.load_open_orca"}]},
        {"datasets": [{"path": "org/ds", "type": {"field_instruction": "q", "field_output": "a"}}]},
        {"vllm": {"serve_module": "axolotl.scripts.vllm_serve_lora"}},
    ],
)
def test_axolotls_own_plugins_and_strategies_need_no_opt_in(tmp_path, override):
    _build(tmp_path, framework_overrides={"axolotl": override})


@pytest.mark.parametrize(
    "value",
    [
        "chat_template.argilla",
        "llama3.prompt_pairs",
        "chatml.intel",
        "user_defined.default",
        "bradley_terry.chat_template",
    ],
)
def test_builtin_strategy_names_from_the_axolotl_package(value):
    from generator.frameworks import axolotl

    assert axolotl._strategy_module(value) is None
    assert axolotl._strategy_module("evil." + value) == "evil." + value.rsplit(".", 1)[0]


def test_the_builtin_lists_come_from_the_generated_schema():
    schema = json.loads((REPO / "schemas" / "axolotl-0.19.0.schema.json").read_text())
    meta = schema["x-ftgen"]["builtin_imports"]
    assert "axolotl.integrations.liger.LigerPlugin" in meta["plugins"]
    assert {"chat_template", "llama3", "chatml"} <= set(meta["strategy_modules"]["dpo"])
    assert "builtin_imports" in (REPO / "generator" / "_env_scripts" / "axolotl_schema.py").read_text()


@pytest.mark.parametrize(
    ("framework", "key"),
    [
        ("axolotl", "base_model"),
        ("axolotl", "base_model_config"),
        ("axolotl", "tokenizer_config"),
        ("llamafactory", "model_name_or_path"),
    ],
)
def test_an_override_of_the_model_path_is_refused(tmp_path, framework, key):
    problems = _refused(
        tmp_path, framework="both", allow_imports=["anything"], framework_overrides={framework: {key: "evil/model"}}
    )
    [p] = [p for p in problems if p.key == f"framework_overrides.{framework}.{key}"]
    assert "base_model" in p.message and p.found == "evil/model"


def test_llamafactory_overrides_import_nothing():
    cfg = {"dataset_dir": "/elsewhere", "template": "qwen", "adapter_name_or_path": "x"}
    from generator import frameworks

    assert list(frameworks.get("llamafactory").imports(cfg)) == []


# ------------------------------------------------------------------- rl.reward_funcs: located, never run

GRPO = {**BASE, "task": "grpo", "rl": {"reward_funcs": ["rewards.exact", "team.scoring.fmt"]}}


def _grpo(tmp_path: Path, **extra):
    spec = {**GRPO, **extra}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return build_file(path, tmp_path / "outputs")


def test_reward_modules_beside_the_spec_are_found_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    side_effect = f"open({str(marker)!r}, 'w').close()\n"
    (tmp_path / "rewards.py").write_text(side_effect + "def exact(prompts, completions, **kw):\n    return [1.0]\n")
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "__init__.py").write_text(side_effect)
    (tmp_path / "team" / "scoring").mkdir()
    (tmp_path / "team" / "scoring" / "__init__.py").write_text(side_effect + "from .impl import fmt\n")
    b = _grpo(tmp_path)
    assert b.rendered[0].config["trl"]["reward_funcs"] == ["rewards.exact", "team.scoring.fmt"]
    assert not marker.exists(), "ftgen ran a reward module"


def test_a_missing_reward_module_or_function_is_an_error(tmp_path):
    (tmp_path / "rewards.py").write_text("def other(prompts, completions):\n    return []\n")
    with pytest.raises(FtgenError) as exc:
        _grpo(tmp_path)
    by_key = {p.key: p for p in exc.value.problems}
    assert "defines no 'exact'" in by_key["rl.reward_funcs[0]"].message
    assert by_key["rl.reward_funcs[0]"].allowed == "other"
    assert "not beside the spec" in by_key["rl.reward_funcs[1]"].message


def test_an_installed_reward_module_needs_allow_imports(tmp_path):
    (tmp_path / "rewards.py").write_text("def exact(prompts, completions):\n    return []\n")
    b = _grpo(tmp_path, allow_imports=["team"])
    assert b.spec.allow_imports == ("team",)
