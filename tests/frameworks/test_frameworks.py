"""The framework registry: one module per framework, nothing else branches on a name, and a third framework is
one module plus one schema (tests/frameworks/data/toyfw.py and toyfw-1.0.schema.json, registered at run time)."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from generator import envs, frameworks, targets
from generator.frameworks import Framework

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
TINY_MODEL = REPO / "examples" / "models" / "tiny-llama"
SMALL = REPO / "tests" / "cases" / "data" / "small.jsonl"


def _clear_caches() -> None:
    from generator import configschema as validate
    from generator.lint import _detect, clear_caches

    validate.load_schema.cache_clear()
    validate._validator_for.cache_clear()
    _detect._own_keys.cache_clear()
    clear_caches()


@pytest.fixture
def toy():
    spec = importlib.util.spec_from_file_location("toyfw", DATA / "toyfw.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fw = frameworks.register(module.FRAMEWORK)
    _clear_caches()
    yield fw
    frameworks.unregister(fw.name)
    _clear_caches()


# ---------------------------------------------------------------------------------------------- one registry


def test_builtin_frameworks_come_from_their_modules():
    assert frameworks.names() == ("axolotl", "llamafactory")
    for fw in frameworks.all_frameworks():
        assert isinstance(fw, Framework)
        assert fw.config_name == f"{fw.name}.yaml" and fw.label and fw.cli and fw.version
        assert fw.env.framework == fw.name and fw.env.version == fw.version
        assert fw.schema()["x-ftgen"]["version"] == fw.version
        assert envs.SPECS[fw.name] is fw.env
    with pytest.raises(Exception, match="unsupported framework"):
        frameworks.get("nope")


def test_every_table_key_is_a_key_of_the_frameworks_schema():
    for fw in frameworks.all_frameworks():
        props = set(fw.schema()["properties"])
        missing = sorted(k for k in fw.keys() if k not in props)
        assert missing == [], f"{fw.name}: table keys its schema does not have"
        assert set(fw.local) <= props and not set(fw.local) & fw.keys()


def test_quiet_env_names_are_plain_variable_names():
    for fw in frameworks.all_frameworks():
        assert all(re.fullmatch(r"[A-Z_][A-Z0-9_]*", k) for k in fw.quiet_env)


def test_the_spec_schema_file_lists_the_builtin_frameworks():
    schema = json.loads((REPO / "schemas" / "spec.schema.json").read_text())
    assert schema["properties"]["framework"]["enum"] == ["auto", *frameworks.names(), "both"]
    assert list(schema["properties"]["framework_overrides"]["properties"]) == list(frameworks.names())


_ALLOWED_LITERALS = {
    # the prompt-format kind LLaMA-Factory's template engine builds (recorded in run.json; generate.py's switch)
    ("generator/evaluate/prompts.py", "llamafactory"),
}


def test_no_framework_name_branches_outside_the_framework_modules():
    """No module outside generator/frameworks/ compares with a framework's name or spells one as a string; the
    scripts that run inside a framework's env (generator/_env_scripts/) cannot import ftgen and are exempt."""
    names = set(frameworks.names())
    found = []
    for path in sorted((REPO / "generator").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("generator/frameworks/", "generator/_env_scripts/")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if node.value in names and (rel, node.value) not in _ALLOWED_LITERALS:
                    found.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert found == []


# ---------------------------------------------------------------------------------------------- a third framework


def _spec(tmp_path: Path, framework: str) -> Path:
    path = tmp_path / "toy-spec.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "toy-run",
                "base_model": str(TINY_MODEL),
                "data": {"train": [{"path": str(SMALL), "format": "alpaca"}]},
                "method": "lora",
                "hardware": {"gpu": "CPU"},
                "framework": framework,
                "sequence_len": 128,
            }
        )
    )
    return path


def test_a_third_framework_is_one_module_and_one_schema(toy, tmp_path, cli):
    from generator.build import build_file
    from generator.convert import convert_config
    from generator.lint import lint_config
    from generator.validate import validate_config

    assert "toyfw" in frameworks.names() and envs.SPECS["toyfw"] is toy.env
    assert ("toyfw", "sft", "qlora, lora, full") in targets.table()
    assert targets.why_not("toyfw", "dpo") == "ToyTrain trains SFT only"

    # build: the plan is rendered through the toy's key table, validated against its schema
    b = build_file(_spec(tmp_path, "toyfw"), tmp_path / "outputs")
    assert b.plan.frameworks == ("toyfw",)
    cfg = yaml.safe_load(b.files["toyfw.yaml"])
    assert cfg["tuning"] == "adapter" and cfg["bits"] == 16 and cfg["lr"] == b.plan["learning_rate"]
    assert cfg["data"][0]["format"] == "alpaca" and Path(cfg["data"][0]["file"]).name == "small.jsonl"
    assert "# [FT142]" in b.files["toyfw.yaml"] and "# [spec (FT105)] base_model in the spec" in b.files["toyfw.yaml"]
    assert validate_config("toyfw", cfg, "toyfw.yaml") == []
    assert 'toyfw)\n    exec toytrain toyfw.yaml "$@"' in b.files["launch.sh"]
    # `framework: both` means every framework that runs the task
    both = build_file(_spec(tmp_path, "both"), tmp_path / "outputs")
    assert both.plan.frameworks == ("axolotl", "llamafactory", "toyfw") and "toyfw.yaml" in both.files

    # lint: detected by its keys, read through the same table, checked against its schema
    result = lint_config({**cfg, "lr": -1, "epochz": 3}, "hand.yaml")
    assert result.framework == "toyfw"
    assert {f.key for f in result.findings} >= {"lr", "epochz"}

    # convert, both ways, through the tables; what the toy cannot say is listed with its reason
    ax = yaml.safe_load(both.files["axolotl.yaml"])
    conv = convert_config(ax, "axolotl", "toyfw")
    assert conv.config["lr"] == ax["learning_rate"] and conv.config["tuning"] == "adapter"
    assert any(p.key in ("bf16", "fp16") and "fp32" in p.message for p in conv.untranslated)
    back = convert_config(conv.config, "toyfw", "llamafactory")
    assert back.config["learning_rate"] == ax["learning_rate"] and back.config["finetuning_type"] == "lora"

    # the CLI offers it where commands take a framework name, from the same registry
    (tmp_path / "toyfw.yaml").write_text(b.files["toyfw.yaml"])
    res = cli("lint", "--framework", "toyfw", str(tmp_path / "toyfw.yaml"))
    assert res.exit_code in (0, 1), res.output
