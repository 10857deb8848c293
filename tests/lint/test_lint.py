"""Lint units: detection, rules, version facts, fast paths, output formats, exit codes and the CLI."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from _lintdata import corpus_files, needs_corpus

from generator import _yaml
from generator._yaml import _fast_load, _slow_load
from generator.facts.gpus import lookup_gpu
from generator.lint import (
    Hardware,
    _output,
    all_lint_rules,
    get_lint_rule,
    lint_config,
    lint_file,
)
from generator.lint._detect import detect
from generator.lint._fastvalidate import clear_caches, validate
from generator.lint._versions import _curated, _facts
from generator.validate import validate_config

AX = {
    "base_model": "meta-llama/Llama-3.1-8B",
    "datasets": [{"path": "tatsu-lab/alpaca", "type": "alpaca"}],
    "adapter": "lora",
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_target_linear": True,
    "learning_rate": 2e-4,
    "micro_batch_size": 2,
    "num_epochs": 1,
    "sequence_len": 2048,
    "val_set_size": 0.02,
    "bf16": True,
}
LF = {
    "model_name_or_path": "Qwen/Qwen3-8B",
    "stage": "sft",
    "do_train": True,
    "finetuning_type": "lora",
    "lora_rank": 16,
    "lora_alpha": 32,
    "dataset": "alpaca_en_demo",
    "template": "qwen3",
    "cutoff_len": 2048,
    "learning_rate": 1e-4,
    "per_device_train_batch_size": 2,
    "val_size": 0.05,
    "bf16": True,
}


def rules_of(cfg, framework=None, hardware=None) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in lint_config(cfg, "c.yaml", framework, hardware=hardware).findings:
        out.setdefault(f.rule, []).append(f)
    return out


def test_clean_configs_have_no_findings():
    assert rules_of(AX) == {}
    assert rules_of(LF) == {}


@pytest.mark.parametrize(
    "cfg,fw",
    [
        (AX, "axolotl"),
        (LF, "llamafactory"),
        ({"model": "Qwen/Qwen3-4B", "train_dataset": "x", "dist_config": {}}, "llamafactory"),
        ({"datasets": [], "micro_batch_size": 1, "sequence_len": 1}, "axolotl"),
        ({"<|tok|>": "a token"}, None),
        ([1, 2], None),
    ],
)
def test_detection(cfg, fw):
    assert detect(cfg)[0] == fw


def test_undetectable_config_is_ftl010_and_exit_2():
    r = lint_config({"<|tok|>": "x"}, "t.yaml")
    assert [f.rule for f in r.findings] == ["FTL010"]
    assert _output.exit_code([r]) == 2


def test_invalid_yaml_is_a_finding_not_a_traceback(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("a: 1\na: 2\n")
    r = lint_file(p)
    assert r.findings[0].rule == "FTL010" and "duplicate key" in r.findings[0].message and r.findings[0].line == 2


@pytest.mark.parametrize("dialect", _yaml.DIALECTS)
def test_fast_yaml_matches_the_safe_loader_on_the_corpus(dialect):
    for _, path in corpus_files():
        text = path.read_text(encoding="utf-8")
        fast = _fast_load(text, _yaml.MAX_NODES, dialect)
        slow = _slow_load(text, str(path), _yaml.MAX_NODES, dialect)
        assert fast is not None and fast.data == slow.data and fast.lines == slow.lines, path.name


@pytest.mark.parametrize(
    "text",
    ["a: &x [1]\nb: *x\n", "a: 1\na: 2\n", "<<: {a: 1}\n", "a: !!python/name:os.system\n", "[" * 100 + "]" * 100],
)
def test_fast_yaml_defers_to_the_safe_loader(text):
    """Aliases, duplicate keys, merge keys, tags and deep nesting are left to the Python loader (limits, wording)."""
    assert _fast_load(text, _yaml.MAX_NODES, "yaml") is None


@needs_corpus
def test_memoised_validation_is_exactly_validate_config():
    clear_caches()
    for _ in range(2):  # cold, then warm
        for fw, path in corpus_files():
            cfg = _yaml.load_file(path).data
            if isinstance(cfg, dict):
                fw = detect(cfg)[0] or fw
                assert validate(fw, cfg, "f") == validate_config(fw, cfg, "f"), path.name


def test_schema_findings_name_key_line_found_and_allowed(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "base_model: m\ndatasets:\n  - path: d\n    type: alpaca\nlearning_rate: 1e-4\n"
        "micro_batch_size: 2\nlr_scheduler: cosin\nlearnign_rate: 2\nwarmup_steps: 0.1\n"
    )
    fs = {f.key: f for f in lint_file(p).findings}
    assert (
        fs["lr_scheduler"].rule == "FTL003" and fs["lr_scheduler"].line == 7 and "cosine" in fs["lr_scheduler"].allowed
    )
    assert fs["learnign_rate"].rule == "FTL001" and "drops it silently" in fs["learnign_rate"].message
    assert "learning_rate" in fs["learnign_rate"].allowed
    assert fs["warmup_steps"].rule == "FTL002" and fs["warmup_steps"].found == 0.1


def test_axolotl_accepts_any_dataset_models_key_in_dataset_entries():
    cfg = {
        **AX,
        "rl": "dpo",
        "datasets": [
            {
                "path": "d",
                "type": "chat_template.default",
                "field_messages": "m",
                "roles": {"user": ["user"]},
                "message_property_mappings": {"role": "r"},
            }
        ],
    }
    assert "FTL001" not in rules_of(cfg)


def test_deprecated_keys_and_values():
    fs = rules_of(
        {
            **AX,
            "flash_attention": True,
            "dpo_beta": 0.1,
            "max_packed_sequence_len": 2048,
            "fsdp_config": {"fsdp_offload_params": True},
            "gradient_checkpointing": "offload",
            "datasets": [{"path": "d", "type": "sharegpt"}],
        }
    )["FTL004"]
    by_key = {f.key: f for f in fs}
    assert (
        by_key["flash_attention"].severity == "warning" and "attn_implementation" in by_key["flash_attention"].allowed
    )
    assert by_key["dpo_beta"].allowed == "rl_beta"
    assert (
        by_key["max_packed_sequence_len"].severity == "error" and by_key["max_packed_sequence_len"].when == "validate"
    )
    assert by_key["fsdp_config.fsdp_offload_params"].allowed == "fsdp_config.offload_params"
    assert by_key["datasets[0].type"].severity == "error"
    assert "activation_offloading" in by_key["gradient_checkpointing"].message
    assert all(f.source for f in fs)


def test_llamafactory_unknown_keys_are_errors_the_framework_refuses():
    f = rules_of({**LF, "learning_rat": 1})["FTL001"][0]
    assert f.severity == "error" and f.when == "validate" and "HfArgumentParser" in f.message


def test_llamafactory_v1_config_is_named_as_such():
    fs = rules_of({"model": "Qwen/Qwen3-4B", "model_class": "llm", "dist_config": {"name": "fsdp2"}})
    assert fs["FTL011"][0].severity == "error"
    assert all("v1 config format" in f.message for f in fs["FTL005"])


def test_domain_rules():
    assert rules_of({**AX, "adapter": "qlora"})["FTL101"][0].when == "validate"
    assert "FTL101" not in rules_of({**AX, "adapter": "qlora", "load_in_4bit": True})
    assert rules_of({**LF, "double_quantization": True})["FTL101"][0].severity == "warning"
    assert "above" in rules_of({**AX, "learning_rate": 0.05})["FTL102"][0].message
    assert (
        "below"
        in rules_of(
            {
                **AX,
                "adapter": None,
                "learning_rate": 1e-7,
                "lora_r": None,
                "lora_alpha": None,
                "lora_target_linear": None,
            }
        )["FTL102"][0].message
    )
    assert "FTL102" not in rules_of({**AX, "learning_rate": 0.02, "optimizer": "muon"})
    assert rules_of({**AX, "lora_alpha": 1024})["FTL103"][0].key == "lora_alpha"
    assert "FTL103" not in rules_of({**AX, "lora_alpha": 1024, "peft_use_rslora": True})
    assert rules_of({**AX, "sequence_len": 262144})["FTL104"][0].key == "sequence_len"
    assert rules_of({**AX, "val_set_size": 0})["FTL107"][0].key == "val_set_size"
    assert "FTL107" not in rules_of({**LF, "do_train": False, "export_dir": "out"})
    assert rules_of({**AX, "trust_remote_code": True})["FTL108"][0].severity == "warning"
    assert rules_of({**AX, "trust_remote_code": True, "revision_of_model": "abc123"})["FTL108"][0].severity == "info"
    assert (
        rules_of(
            {
                **AX,
                "adapter": None,
                "load_in_4bit": True,
                "lora_r": None,
                "lora_alpha": None,
                "lora_target_linear": None,
            }
        )["FTL109"][0].when
        == "validate"
    )
    assert rules_of({**LF, "finetuning_type": "full", "quantization_bit": 4})["FTL109"][0].key == "quantization_bit"
    assert rules_of({**AX, "fp16": True})["FTL110"][0].key == "fp16"


def test_hardware_rules():
    t4 = Hardware(lookup_gpu("T4", None, "t", "gpu"), 1)
    assert rules_of(AX, hardware=t4)["FTL105"][0].severity == "error"
    assert "FTL105" not in rules_of(AX, hardware=Hardware(lookup_gpu("A100-80GB", None, "t", "gpu")))
    full = {k: v for k, v in AX.items() if not k.startswith("lora") and k != "adapter"}
    f = rules_of(full, hardware=Hardware(lookup_gpu("RTX4090", None, "t", "gpu")))["FTL106"][0]
    assert "needs ~" in f.message and f.severity == "error"
    assert "FTL106" not in rules_of(
        {**full, "deepspeed": "zero3.json"}, hardware=Hardware(lookup_gpu("H100-80GB", None, "t", "gpu"), 8)
    )


def test_axolotl_validator_checks():
    assert rules_of({**AX, "warmup_steps": 10, "warmup_ratio": 0.1})["FTL201"]
    assert rules_of({**AX, "save_strategy": "epoch", "save_steps": 10})["FTL202"]
    assert rules_of({**AX, "val_set_size": 0, "eval_steps": 10})["FTL203"]
    assert rules_of({**AX, "early_stopping_patience": 3})["FTL204"]
    assert rules_of({**AX, "fsdp_version": 2, "fsdp_config": {"offload_params": False}, "optimizer": "adamw_bnb_8bit"})[
        "FTL205"
    ]
    assert rules_of({**AX, "attn_implementation": "sdpa", "flash_attention": True})["FTL206"]
    assert rules_of({k: v for k, v in AX.items() if k != "datasets"})["FTL207"]


def test_llamafactory_parser_checks():
    assert rules_of({**LF, "stage": "dpo", "neat_packing": True})["FTL301"]
    assert rules_of({**LF, "dataset": None})["FTL302"]


def test_every_rule_is_documented_and_listed():
    rules = all_lint_rules()
    assert len({r.id for r in rules}) == len(rules) >= 30
    for r in rules:
        assert re.match(r"^FTL\d{3}$", r.id) and r.summary
        for section in ("Why", "Example", "References"):
            assert r.section(section), f"{r.id} lacks {section}"
    assert get_lint_rule("ftl101").name == "qlora-without-4bit"
    assert get_lint_rule("unknown-key").id == "FTL001"


def test_lint_rules_are_not_in_the_build_registry():
    from generator import rules

    assert not any(r.id.startswith("FTL") for r in rules.all_rules())


def test_every_version_fact_names_its_source():
    for fw, data in _curated().items():
        for section in ("renamed", "values", "other_versions", "formats"):
            for key, entry in data.get(section, {}).items():
                assert entry.get("source"), f"{fw}.{section}.{key}"
        for vals in data.get("other_values", {}).values():
            assert all(v.get("source") for v in vals.values())
    facts = _facts()
    for fw in ("axolotl", "llamafactory"):
        for section in facts[fw]["removed"].values():
            assert all(e["source"] and e["last"] for e in section.values())
    assert all(e["source"] for e in facts["axolotl"]["deprecated"].values())


def test_github_annotations_escape_and_carry_rule_and_line():
    r = lint_config({**AX, "lr_scheduler": "cosin"}, "dir,x/c:1.yaml", line_of=lambda k: 7)
    line = _output.github([r]).splitlines()[0]
    assert line.startswith("::error file=dir%2Cx/c%3A1.yaml,line=7,title=FTL003::lr_scheduler: value not allowed")
    assert "\n" not in line


def test_text_and_json_outputs():
    r = lint_config({**AX, "learnign_rate": 1}, "c.yaml", line_of=lambda k: 3)
    text = _output.text([r])
    assert "c.yaml:3: error: learnign_rate: unknown key" in text and "[FTL001]" in text
    assert text.strip().endswith("0 clean")
    data = json.loads(_output.as_json([r]))
    assert data["summary"]["errors"] == 1 and data["files"][0]["findings"][0]["when"] == "silent"


@pytest.mark.parametrize("fail_on,expected", [("error", 1), ("warning", 1), ("never", 0)])
def test_exit_code_follows_the_highest_severity(fail_on, expected):
    r = lint_config({**AX, "learnign_rate": 1}, "c.yaml")
    assert _output.exit_code([r], fail_on) == expected
    warn_only = lint_config({**AX, "val_set_size": 0}, "c.yaml")
    assert _output.exit_code([warn_only], "error") == 0 and _output.exit_code([warn_only], "warning") == 1


def test_cli_lint(cli, tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(AX))
    bad.write_text(yaml.safe_dump({**LF, "learning_rat": 1}))
    assert cli("lint", str(good)).exit_code == 0
    res = cli("lint", str(tmp_path), "--format", "github")
    assert res.exit_code == 1 and "::error file=" in res.output and "title=FTL001" in res.output
    res = cli("lint", str(good), "--framework", "llamafactory", "--format", "json")
    assert res.exit_code == 1 and json.loads(res.output)["files"][0]["framework"] == "llamafactory"
    res = cli("lint", str(good), "--gpu", "T4")
    assert res.exit_code == 1 and "FTL105" in res.output
    assert cli("lint", str(tmp_path / "missing.yaml")).exit_code == 2
    assert cli("lint", "--gpu", "nosuchgpu", str(good)).exit_code == 2
    res = cli("lint", "--explain", "FTL102")
    assert res.exit_code == 0 and "learning-rate-range" in res.output and "References:" in res.output
    assert cli("lint", "--explain", "FTL999").exit_code == 2
    res = cli("lint", "--rules")
    assert res.exit_code == 0 and "FTL101" in res.output and "qlora-without-4bit" in res.output
