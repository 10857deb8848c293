"""Tests for generator.validate: the vendored schemas, corpus findings, mutations, and native validation (e2e)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from generator import envs
from generator.validate import (
    load_config,
    load_schema,
    native_validate,
    native_validate_many,
    schema_path,
    validate_config,
    validate_file,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
FRAMEWORKS = ("axolotl", "llamafactory")


def _corpus_dir(framework: str) -> Path | None:
    """The example-config corpus committed under tests/data/corpus (FTGEN_CORPUS points elsewhere)."""
    candidates = [DATA / "corpus" / framework]
    if os.environ.get("FTGEN_CORPUS"):
        candidates.insert(0, Path(os.environ["FTGEN_CORPUS"]) / framework)
    return next((c for c in candidates if c.is_dir()), None)


def _walk_properties(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    yield f"{path}.{name}" if path else name, prop
                    yield from _walk_properties(prop, f"{path}.{name}" if path else name)
            elif key not in ("default", "enum", "const", "examples", "x-ftgen"):
                yield from _walk_properties(value, path)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_properties(item, path)


# ------------------------------------------------------------------ the vendored schemas


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_schema_is_valid_2020_12_and_documented(framework):
    schema = load_schema(framework)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    meta = schema["x-ftgen"]
    assert meta["framework"] == framework and meta["version"] == envs.SPECS[framework].version
    assert meta["generator"].startswith("generator/_env_scripts/")
    missing = [
        path for path, prop in _walk_properties(schema) if not isinstance(prop, dict) or not prop.get("description")
    ]
    assert missing == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_schema_file_is_deterministic_text(framework):
    text = schema_path(framework).read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert "created" not in json.dumps(data["x-ftgen"]) and "date" not in data["x-ftgen"]


def test_schema_property_counts():
    assert len(load_schema("axolotl")["properties"]) >= 390
    assert len(load_schema("llamafactory")["properties"]) == 346


def test_axolotl_closed_choices_are_enums():
    schema = load_schema("axolotl")
    props = schema["properties"]

    def enum_of(prop):
        return next(b["enum"] for b in prop["anyOf"] if "enum" in b)

    assert {"adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "muon"} <= set(enum_of(props["optimizer"]))
    assert {"cosine", "linear", "one_cycle", "rex"} <= set(enum_of(props["lr_scheduler"]))
    assert {"lora", "qlora"} <= set(enum_of(props["adapter"]))
    assert {"dpo", "kto", "grpo", "orpo"} <= set(schema["$defs"]["RLType"]["enum"])
    sft_types = schema["$defs"]["DatasetType-sft"]["anyOf"][0]["enum"]
    assert {"alpaca", "chat_template", "completion", "alpaca:chat"} <= set(sft_types)
    assert "chat_template.default" in schema["$defs"]["DatasetType-dpo"]["anyOf"][0]["enum"]
    assert schema["$defs"]["SFTDataset"]["additionalProperties"] is False


def test_llamafactory_closed_choices_are_enums():
    props = load_schema("llamafactory")["properties"]
    assert set(props["stage"]["enum"]) == {"pt", "sft", "rm", "ppo", "dpo", "kto"}
    assert {"lora", "full", "freeze"} <= set(props["finetuning_type"]["enum"])
    assert {"llama3", "qwen", "default", None} <= set(props["template"]["enum"])
    assert "adamw_torch" in props["optim"]["enum"] and "cosine" in props["lr_scheduler_type"]["enum"]


# ------------------------------------------------------------------ the corpus


def _findings(framework: str, corpus: Path) -> list[str]:
    lines = []
    for path in sorted(p for p in corpus.iterdir() if p.suffix in (".yaml", ".yml")):
        for problem in validate_file(framework, path):
            lines.append(f"{path.name}\t{problem.key}\t{problem.message}")
    return lines


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_corpus_findings_match_expected(framework):
    corpus = _corpus_dir(framework)
    if corpus is None:
        pytest.fail(f"no corpus for {framework} under tests/data/corpus")
    expected_file = DATA / f"{framework}-corpus-findings.tsv"
    got = _findings(framework, corpus)
    if os.environ.get("FTGEN_UPDATE_EXPECTED"):
        header = expected_file.read_text().splitlines()[:6] if expected_file.is_file() else []
        header = [h for h in header if h.startswith("#")]
        expected_file.write_text("\n".join(header + got) + "\n")
    expected = [ln for ln in expected_file.read_text().splitlines() if ln and not ln.startswith("#")]
    missing = sorted(set(expected) - set(got))
    new = sorted(set(got) - set(expected))
    assert not missing and not new, f"new findings: {new[:20]}\nno longer found: {missing[:20]}"


# ------------------------------------------------------------------ mutations


AX_BASE = {
    "base_model": "/models/tiny",
    "adapter": "lora",
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_target_linear": True,
    "datasets": [{"path": "/data/train.jsonl", "ds_type": "json", "type": "alpaca"}],
    "micro_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "num_epochs": 1,
    "learning_rate": 0.0002,
    "optimizer": "adamw_torch",
    "lr_scheduler": "cosine",
    "bf16": False,
    "fp16": False,
    "tf32": False,
    "output_dir": "/out",
}

LF_BASE = {
    "model_name_or_path": "/models/tiny",
    "stage": "sft",
    "do_train": True,
    "finetuning_type": "lora",
    "lora_target": "all",
    "dataset": "alpaca_demo",
    "dataset_dir": "/data",
    "template": "llama3",
    "cutoff_len": 256,
    "output_dir": "/out",
    "per_device_train_batch_size": 2,
    "learning_rate": 1.0e-4,
    "num_train_epochs": 1.0,
    "lr_scheduler_type": "cosine",
    "bf16": False,
    "use_cpu": True,
}


def _by_key(problems):
    return {p.key: p for p in problems}


def test_valid_minimal_configs_pass():
    assert validate_config("axolotl", dict(AX_BASE), "a.yaml") == []
    assert validate_config("llamafactory", dict(LF_BASE), "l.yaml") == []


def test_typo_key_reported_with_close_match():
    problems = validate_config("axolotl", {**AX_BASE, "learning_rat": 1e-4}, "a.yaml")
    [p] = problems
    assert (p.file, p.key, p.message) == ("a.yaml", "learning_rat", "unknown key")
    assert "learning_rate" in p.allowed
    assert "a.yaml: learning_rat: unknown key" in p.render()
    [p] = validate_config("llamafactory", {**LF_BASE, "lora_rnak": 8}, "l.yaml")
    assert p.key == "lora_rnak" and "lora_rank" in p.allowed


def test_wrong_type_reported_with_type_name():
    [p] = validate_config("axolotl", {**AX_BASE, "micro_batch_size": "two"}, "a.yaml")
    assert p.key == "micro_batch_size" and p.found == "two" and "integer" in p.allowed
    [p] = validate_config("llamafactory", {**LF_BASE, "per_device_train_batch_size": [2]}, "l.yaml")
    assert p.key == "per_device_train_batch_size" and p.message == "wrong type" and p.allowed == "integer"


def test_bad_enum_reported_with_allowed_values():
    [p] = validate_config("axolotl", {**AX_BASE, "optimizer": "adamw_torh"}, "a.yaml")
    assert p.key == "optimizer" and p.found == "adamw_torh" and "adamw_torch" in p.allowed
    [p] = validate_config("axolotl", {**AX_BASE, "lr_scheduler": "cosin"}, "a.yaml")
    assert p.key == "lr_scheduler" and "cosine" in p.allowed
    [p] = validate_config("llamafactory", {**LF_BASE, "stage": "sftt"}, "l.yaml")
    assert p.key == "stage" and p.allowed == "pt, sft, rm, ppo, dpo, kto"
    [p] = validate_config("llamafactory", {**LF_BASE, "template": "llama33"}, "l.yaml")
    assert p.key == "template" and "did you mean" in p.allowed and "llama3" in p.allowed


def test_dataset_entry_problems_have_indexed_key_paths():
    ds = {**AX_BASE["datasets"][0], "type": "alpaka"}
    [p] = validate_config("axolotl", {**AX_BASE, "datasets": [AX_BASE["datasets"][0], ds]}, "a.yaml")
    assert p.key == "datasets[1].type" and p.found == "alpaka" and "alpaca" in p.allowed
    ds = {**AX_BASE["datasets"][0], "feild_messages": "messages"}
    [p] = validate_config("axolotl", {**AX_BASE, "datasets": [ds]}, "a.yaml")
    assert (p.key, p.message) == ("datasets[0].feild_messages", "unknown key")
    assert "field_messages" in p.allowed
    # own strategy modules are allowed; a typo of a built-in module is not
    ok = {**AX_BASE["datasets"][0], "type": "my_pkg.prompt.load"}
    assert validate_config("axolotl", {**AX_BASE, "datasets": [ok]}, "a.yaml") == []
    bad = {**AX_BASE["datasets"][0], "type": "alpaca_chat.load_qaa"}
    assert _by_key(validate_config("axolotl", {**AX_BASE, "datasets": [bad]}, "a.yaml"))["datasets[0].type"]


def test_dataset_model_follows_rl():
    dpo_ds = {"path": "/d.jsonl", "type": "chat_template.default", "field_chosen": "c", "field_rejected": "r"}
    assert validate_config("axolotl", {**AX_BASE, "rl": "dpo", "datasets": [dpo_ds]}, "a.yaml") == []
    # SFT-only keys in a DPO dataset are dropped by Axolotl's DPODataset: reported
    problems = validate_config("axolotl", {**AX_BASE, "rl": "dpo", "datasets": [{**dpo_ds, "roles": {}}]}, "a.yaml")
    assert [(p.key, p.message) for p in problems] == [("datasets[0].roles", "unknown key")]
    # and a DPO type is not an SFT strategy
    problems = validate_config(
        "axolotl", {**AX_BASE, "datasets": [{"path": "/d", "type": "chat_template.default"}]}, "a.yaml"
    )
    assert [p.key for p in problems] == ["datasets[0].type"]
    [p] = validate_config("axolotl", {**AX_BASE, "rl": "dpoo"}, "a.yaml")
    assert p.key == "rl" and "dpo" in p.allowed


def test_nested_config_objects_are_closed():
    fsdp = {"fsdp_version": 2, "offload_params": False, "fsdp_state_dict_type": "FULL_STATE_DICT"}
    assert validate_config("axolotl", {**AX_BASE, "fsdp_config": fsdp}, "a.yaml") == []  # fsdp_ prefix: accepted
    [p] = validate_config("axolotl", {**AX_BASE, "fsdp_config": {**fsdp, "sharding_strategy": "FULL_SHARD"}}, "a.yaml")
    assert (p.key, p.message) == ("fsdp_config.sharding_strategy", "unknown key")


def test_plugin_keys_need_their_plugin():
    [p] = validate_config("axolotl", {**AX_BASE, "liger_rope": True}, "a.yaml")
    assert p.key == "liger_rope" and "axolotl.integrations.liger.LigerPlugin" in p.allowed
    cfg = {**AX_BASE, "liger_rope": True, "plugins": ["axolotl.integrations.liger.LigerPlugin"]}
    assert validate_config("axolotl", cfg, "a.yaml") == []


def test_numeric_strings_follow_each_framework_reader():
    # Axolotl: pydantic converts '1e-4' (PyYAML's reading of 1e-4) and bools to numbers
    assert validate_config("axolotl", {**AX_BASE, "weight_decay": "1e-4", "warmup_steps": "10"}, "a.yaml") == []
    [p] = validate_config("axolotl", {**AX_BASE, "weight_decay": "lots"}, "a.yaml")
    assert p.key == "weight_decay"
    # LLaMA-Factory: OmegaConf reads unquoted 1e-4 as a float; nothing else becomes a number
    assert validate_config("llamafactory", {**LF_BASE, "learning_rate": "1e-4"}, "l.yaml") == []
    for bad in ("abc", "1,0", "1e-4x"):
        [p] = validate_config("llamafactory", {**LF_BASE, "learning_rate": bad}, "l.yaml")
        assert p.key == "learning_rate" and p.allowed == "number", bad
    [p] = validate_config("llamafactory", {**LF_BASE, "per_device_train_batch_size": "2"}, "l.yaml")
    assert p.key == "per_device_train_batch_size"


def test_load_config_reads_like_the_framework(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("learning_rate: 1e-4\nquoted: '1e-4'\nwhen: 2024-01-01\n")
    lf = load_config(f, "llamafactory")
    assert lf["learning_rate"] == pytest.approx(1e-4) and lf["quoted"] == "1e-4" and lf["when"] == "2024-01-01"
    assert load_config(f, "axolotl")["learning_rate"] == "1e-4"
    f.write_text("a: [1,\n")
    [p] = validate_file("axolotl", f)
    assert p.file == str(f) and "not valid YAML" in p.message and p.line is not None
    f.write_text("- just\n- a list\n")
    [p] = validate_file("llamafactory", f)
    assert p.allowed == "mapping"


def test_all_problems_are_collected_at_once():
    cfg = {**AX_BASE, "learning_rat": 1, "optimizer": "x", "micro_batch_size": "y", "datasets": [{"pth": "/d"}]}
    keys = sorted(p.key for p in validate_config("axolotl", cfg, "a.yaml"))
    assert keys == ["datasets[0].pth", "learning_rat", "micro_batch_size", "optimizer"]


def test_unknown_framework_or_version_is_a_problem():
    from generator.errors import FtgenError

    with pytest.raises(FtgenError):
        validate_config("unsloth", {}, "x.yaml")
    with pytest.raises(FtgenError) as exc:
        validate_config("axolotl", {}, "x.yaml", version="0.1.0")
    assert "0.19.0" in exc.value.problems[0].allowed


# ------------------------------------------------------------------ native validation (e2e)


def _env_or_skip(framework):
    env = envs.get_env(framework)
    if env is None:
        pytest.skip(f"no {framework} env (ftgen env install {framework}, or FTGEN_HOME pointing at one)")
    return env


@pytest.mark.e2e
def test_native_axolotl_accepts_minimal_cpu_lora_and_reports_bad_value(tmp_path):
    env = _env_or_skip("axolotl")
    cpu = {
        **AX_BASE,
        "lora_mlp_kernel": False,
        "lora_qkv_kernel": False,
        "lora_o_kernel": False,
        "lora_embedding_kernel": False,
        "attn_implementation": "sdpa",
    }
    good, bad, typo = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "typo.yaml"
    good.write_text(yaml.safe_dump(cpu))
    bad.write_text(yaml.safe_dump({**cpu, "micro_batch_size": "two"}))
    typo.write_text(yaml.safe_dump({**cpu, "learning_rat": 1e-4}))
    results = native_validate_many("axolotl", [good, bad, typo], env)
    assert results[str(good)] == []
    [p] = results[str(bad)]
    assert p.key == "micro_batch_size" and p.found == "two" and p.file == str(bad)
    # Axolotl itself drops unknown keys silently; ftgen's schema is what catches them
    assert results[str(typo)] == []
    assert validate_file("axolotl", typo)[0].key == "learning_rat"
    assert native_validate("axolotl", good, env) == []


@pytest.mark.e2e
def test_native_llamafactory_accepts_minimal_cpu_lora_and_reports_unknown_key(tmp_path):
    env = _env_or_skip("llamafactory")
    good, typo, gpu = tmp_path / "good.yaml", tmp_path / "typo.yaml", tmp_path / "gpu.yaml"
    good.write_text(yaml.safe_dump(LF_BASE))
    typo.write_text(yaml.safe_dump({**LF_BASE, "lora_rnak": 8}))
    gpu.write_text(yaml.safe_dump({**LF_BASE, "use_cpu": False, "bf16": True}))
    results = native_validate_many("llamafactory", [good, typo, gpu], env)
    assert results[str(good)] == []
    [p] = results[str(typo)]
    assert p.key == "lora_rnak" and "unknown key" in p.message
    from generator.envs._install import has_nvidia_gpu

    if not has_nvidia_gpu():  # a CPU host refuses bf16; target="gpu" judges it for an Ampere+ GPU
        assert results[str(gpu)] and "bf16" in results[str(gpu)][0].message
    assert native_validate_many("llamafactory", [gpu], env, target="gpu")[str(gpu)] == []


# ------------------------------------------------------------------ native validation plumbing (no env needed)


def _load_script(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), envs.script_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_axolotl_script_maps_pydantic_locations():
    script = _load_script("axolotl_validate.py")
    assert script._key(("datasets", 0, "SFTDataset", "type")) == "datasets[0].type"
    assert script._key(("micro_batch_size",)) == "micro_batch_size"
    assert script._key(("fsdp_config", "function-after[validate(), FSDPConfig]", "offload_params")) == (
        "fsdp_config.offload_params"
    )
    assert script._key(()) == ""


def test_llamafactory_script_splits_unused_keys():
    script = _load_script("llamafactory_validate.py")
    exc = ValueError("Some keys are not used by the HfArgumentParser: ['lora_rnak', 'x']")
    assert [p["key"] for p in script._problems_from_exception(exc)] == ["lora_rnak", "x"]
    [p] = script._problems_from_exception(ValueError("Please provide `model_name_or_path`.\nmore"))
    assert p == {"key": "", "message": "ValueError: Please provide `model_name_or_path`."}


def _fake_env(tmp_path, stdout: str, rc: int = 0) -> envs.Env:
    """An Env whose 'python' is a shell script answering every helper script with canned output."""
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir(parents=True)
    (tmp_path / "answer.json").write_text(stdout)
    fake.write_text(f"#!/bin/sh\ncat > {tmp_path}/request.json\ncat {tmp_path}/answer.json\nexit {rc}\n")
    fake.chmod(0o755)
    return envs.Env("llamafactory", "0.9.5", tmp_path, fake, fake.parent, venv=tmp_path)


def test_native_validate_many_maps_results_to_problems(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    answer = {"results": {str(good): [], str(bad): [{"key": "lora_rnak", "message": "unknown key", "found": 8}]}}
    env = _fake_env(tmp_path, json.dumps(answer) + "\n")
    results = native_validate_many("llamafactory", [good, bad], env, target="gpu")
    assert results[str(good)] == []
    [p] = results[str(bad)]
    assert (p.file, p.key, p.found) == (str(bad), "lora_rnak", 8) and p.message.startswith("llamafactory 0.9.5: ")
    request = json.loads((tmp_path / "request.json").read_text())
    assert request == {"paths": [str(good), str(bad)], "target": "gpu"}


def test_native_validate_reports_a_broken_env_as_a_problem(tmp_path):
    env = _fake_env(tmp_path, "Traceback: boom\n", rc=1)
    [p] = native_validate("llamafactory", tmp_path / "c.yaml", env)
    assert "could not run" in p.message and "ftgen env install llamafactory" in p.allowed


# ------------------------------------------------------------------ `ftgen validate`: config errors vs this machine

LF_BF16 = (
    "ValueError: Your setup doesn't support bf16/gpu. You need to assign use_cpu if you want to train the model on CPU."
)
LF_DS = "ValueError: Please use `FORCE_TORCHRUN=1` to launch DeepSpeed training."
LF_NO_DS = (
    "PackageNotFoundError: No package metadata was found for The 'deepspeed>=0.9.3' distribution was not found and "
    "is required by this application."
)


@pytest.mark.parametrize(
    ("framework", "message", "reason"),
    [
        ("llamafactory", LF_BF16, "no GPU with bf16"),
        ("llamafactory", LF_DS, "torchrun"),
        ("llamafactory", LF_NO_DS, "DeepSpeed is not installed"),
        ("axolotl", "ValueError: bf16 requested, but AMP is not supported on this GPU.", "GPU"),
        ("axolotl", "ModuleNotFoundError: No module named 'flash_attn'", "not installed"),
    ],
)
def test_machine_facts_are_told_from_config_errors(framework, message, reason):
    from generator.errors import Problem
    from generator.validate import classify

    errors, machine = classify(framework, [Problem("c.yaml", "", f"{framework} x: {message}")])
    assert errors == [] and reason in machine[0][0]
    config_error = Problem("c.yaml", "", f"{framework} x: ValueError: `neat_packing` cannot be set as True except SFT.")
    assert classify(framework, [config_error])[0] == [config_error]


def _built(tmp_path, name="tiny-cpu"):
    from generator.build import build_file
    from generator.write import write_all

    b = build_file(REPO / "examples" / f"{name}.yaml", tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    return b.out_dir


def _fake_native(monkeypatch, by_framework: dict):
    """native_validate_many answers from `by_framework` (framework -> list of messages); records the requests."""
    from generator.errors import Problem

    calls = []

    def fake(framework, paths, env, *, target="host", capabilities=None, timeout=900):
        paths = [str(Path(p).absolute()) for p in paths]
        calls.append((framework, target, capabilities))
        return {p: [Problem(p, "", f"{framework} 0: {m}") for m in by_framework.get(framework, [])] for p in paths}

    monkeypatch.setattr("generator.validate.native_validate_many", fake)
    monkeypatch.setattr("generator.envs.get_env", lambda fw, root=None: _FakeEnv(fw))
    return calls


class _FakeEnv:
    def __init__(self, framework):
        self.framework, self.version = framework, "0"


def test_validate_reports_a_machine_refusal_as_not_checked_here(tmp_path, cli, monkeypatch):
    build = _built(tmp_path, "clinical-notes")  # an H100 plan with DeepSpeed, judged on a CPU machine
    calls = _fake_native(monkeypatch, {"llamafactory": [LF_NO_DS]})
    res = cli("validate", str(build))
    assert res.exit_code == 0, res.output
    assert "not checked here" in res.output and "DeepSpeed is not installed" in res.output
    assert "error" not in res.output
    # judged for the plan's hardware, not this machine's
    assert calls[0][1] == "gpu"
    res = cli("validate", str(build), "--json")
    data = json.loads(res.output)
    [config] = data["configs"]
    assert config["native"] == "not checked here" and "DeepSpeed" in config["not_checked"] and data["ok"]
    assert config["judged_for"] == "8 x H100-80GB" and data["all_checked"] is False
    assert cli("validate", str(build), "--require-native").exit_code == 1


def test_validate_passes_the_plans_gpu_to_axolotl(tmp_path, monkeypatch):
    from generator.validate import validate_build

    build = _built(tmp_path, "code-assistant")
    calls = _fake_native(monkeypatch, {})
    report = validate_build(build)
    assert [c.status for c in report.configs] == ["accepted"] * len(report.configs)
    axolotl = [c for c in calls if c[0] == "axolotl"]
    for _, target, caps in axolotl:
        assert target == "gpu" and caps["bf16"] is True and caps["n_gpu"] >= 1


def test_validate_config_errors_still_fail(tmp_path, cli, monkeypatch):
    build = _built(tmp_path)
    _fake_native(monkeypatch, {"llamafactory": ["ValueError: `neat_packing` cannot be set as True except SFT."]})
    res = cli("validate", str(build))
    assert res.exit_code == 2 and "neat_packing" in res.output and "not checked here" not in res.output


def test_validate_without_an_env_says_so(tmp_path, cli, monkeypatch):
    build = _built(tmp_path)
    monkeypatch.setattr("generator.envs.get_env", lambda fw, root=None: None)
    res = cli("validate", str(build))
    assert res.exit_code == 0 and "not checked here" in res.output and "no LLaMA-Factory env" in res.output
    assert cli("validate", str(build), "--require-native").exit_code == 1
    assert json.loads(cli("validate", str(build), "--json").output)["configs"][0]["native"] == "not checked here"


def _all_builds() -> list[Path]:
    return sorted((REPO / "tests" / "cases" / "good" / "expected").iterdir()) + sorted(
        p for p in (REPO / "outputs").iterdir() if (p / "plan.json").is_file()
    )


@pytest.mark.e2e
def test_every_golden_and_example_config_passes_the_frameworks_own_validator():
    """The frameworks' own validators accept every config the golden cases and examples build, judged for the
    hardware each plan targets; what they refuse for a reason of this machine is "not checked here", with it."""
    from generator.validate import validate_builds

    for fw in ("axolotl", "llamafactory"):
        _env_or_skip(fw)
    not_checked = {}
    for build, report in zip(_all_builds(), validate_builds(_all_builds())):
        for c in report.configs:
            assert c.status != "refused", f"{build.name} {c.framework}: {[p.message for p in c.errors]}"
            if c.status == "not checked here":
                not_checked[f"{build.name}/{c.framework}"] = c.not_checked
    # only DeepSpeed (GPUs, torchrun, the deepspeed package) and the GPU extras a CPU env leaves out (LLaMA-Factory
    # refuses enable_liger_kernel without liger-kernel, installed by `--torch cuda`) need what this machine lacks
    assert all(
        "DeepSpeed" in why or "a package the config needs is not installed" in why for why in not_checked.values()
    ), not_checked
