"""convert: the key tables read back what they write; A -> B -> A keeps every field or lists it with why; the
losses convert used to make silently (eval strategy, neat packing, warmup ratio, liger, dataset_info.json, paths)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml

from generator import frameworks
from generator.convert import convert_config
from generator.errors import FtgenError
from generator.lint._detect import detect
from generator.validate import validate_config

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "data" / "corpus"
EXPECTED = ROOT / "cases" / "good" / "expected"
UNTRANSLATABLE = ROOT / "data" / "convert" / "untranslatable.json"
ROUND_TRIP = ROOT / "data" / "convert" / "round-trip.json"
UPDATE = os.environ.get("FTGEN_UPDATE_EXPECTED") == "1"
OTHER = {"axolotl": "llamafactory", "llamafactory": "axolotl"}


def _corpus() -> list[tuple[str, Path]]:
    out = []
    for fw in OTHER:
        folder = CORPUS / fw
        if folder.is_dir():
            out += [(fw, p) for p in sorted(folder.iterdir()) if p.suffix in (".yml", ".yaml")]
    return out


def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _round_trip(fw: str, cfg: dict, name: str, base: Path | None = None):
    a = convert_config(cfg, fw, OTHER[fw], name, base=base, out=base)
    info = json.loads(a.extra_files["dataset_info.json"]) if "dataset_info.json" in a.extra_files else None
    b = convert_config(a.config, OTHER[fw], fw, name, info, base=base, out=base)
    return a, b


def _read(fw: str, cfg: dict):
    return frameworks.get(fw).read(cfg)


# ---------------------------------------------------------------------------------------------- forward vs reverse

_PLAN_FIELDS = (
    "method",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "learning_rate",
    "micro_batch_size",
    "gradient_accumulation_steps",
    "num_epochs",
    "sequence_len",
    "optimizer",
    "lr_scheduler",
    "warmup_ratio",
    "weight_decay",
    "packing",
    "precision",
    "val_set_size",
    "eval_steps",
    "save_steps",
    "save_total_limit",
    "logging_steps",
    "pref_beta",
    "gradient_checkpointing",
    "attn_implementation",
    "max_steps",
    "trust_remote_code",
    "seed",
    "output_dir",
    "dataset_num_proc",
)
_CASES = sorted(p for p in EXPECTED.iterdir() if (p / "plan.json").is_file()) if EXPECTED.is_dir() else []


@pytest.mark.parametrize("case", _CASES, ids=lambda p: p.name)
def test_tables_read_back_what_they_wrote(case):
    """Every plan value a config carries reads back, through the same table, as the value the plan decided."""
    plan = json.loads((case / "plan.json").read_text())
    spec = _load(case.parent.parent / f"{case.name}.yaml") or {}
    overridden = spec.get("framework_overrides") or {}
    decided = {d["key"]: d["value"] for d in plan["decisions"]}
    seen = 0
    for fw in frameworks.all_frameworks():
        if not (case / fw.config_name).is_file():
            continue
        n = _read(fw.name, _load(case / fw.config_name))
        assert n.get("task") == plan["task"], f"{fw.config_name}: task"
        for field in _PLAN_FIELDS:
            if set(n.origin.get(field, ())) & set(overridden.get(fw.name, {})):
                continue  # the spec overrides this key for this framework
            if field in n.fields and field in decided:
                want, got = decided[field], n.fields[field]
                if isinstance(want, (int, float)) and isinstance(got, (int, float)):
                    assert float(got) == pytest.approx(float(want)), f"{fw.config_name}: {field}"
                else:
                    assert got == want, f"{fw.config_name}: {field}"
                seen += 1
        for key in ("learning_rate", "micro_batch_size", "sequence_len", "method", "optimizer"):
            assert key in n.fields, f"{fw.config_name}: {key} not read back"
    assert seen >= 10


@pytest.mark.parametrize("case", _CASES, ids=lambda p: p.name)
def test_generated_configs_convert_to_valid_configs(case):
    for fw in frameworks.all_frameworks():
        if (case / fw.config_name).is_file():
            conv = convert_config(_load(case / fw.config_name), fw.name, OTHER[fw.name], fw.config_name)
            errors = [p for p in validate_config(OTHER[fw.name], conv.config, "out") if p.severity == "error"]
            assert not errors, [p.render() for p in errors]


# ---------------------------------------------------------------------------------------------- corpus round trips


def _effective(fw: str, fields: dict, name: str):
    """A field's value, or the framework's own default where the config leaves it out."""
    return fields[name] if name in fields else frameworks.get(fw).defaults(fields).get(name)


@pytest.mark.corpus
def test_round_trips_lose_nothing_they_do_not_list():
    """A -> B -> A on every corpus config: each field translated on the way out comes back with the same meaning
    (the same value, or the framework's default that says it), or one of the two conversions lists the key it
    came from with a reason. Nothing disappears silently. The counts by reason are a data file (diffs show)."""
    kept, lost, reasons = 0, {}, Counter()
    for fw, path in _corpus():
        cfg = _load(path)
        if not isinstance(cfg, dict) or detect(cfg)[0] != fw:
            continue
        a, b = _round_trip(fw, cfg, path.name, path.parent)
        for p in a.untranslated + b.untranslated:
            assert p.message and p.severity == "warning", p
            reasons[_reason(p.message)] += 1
        before, after = _read(fw, cfg).fields, _read(fw, b.config).fields
        back_keys = {p.key.split(".")[0].split("[")[0] for p in b.untranslated}
        for field in a.translated:
            if field not in before or before[field] == _effective(fw, after, field):
                kept += before.get(field) is not None
                continue
            # lost on the way back: the second conversion must say so, naming a key of the target that carries it
            target_keys = {k for r in frameworks.get(OTHER[fw]).rows_for(field) for k in r.keys}
            assert back_keys & target_keys, f"{path.name}: {field} {before[field]!r} lost silently"
            lost.setdefault(field, []).append(path.name)
    assert kept >= 5000
    # the only field that does not survive: Axolotl pretraining from a streaming pretraining_dataset
    assert set(lost) <= {"task"}, lost
    assert len(lost.get("task", [])) <= 5
    report = {"kept": kept, "lost": {k: sorted(v) for k, v in lost.items()}, "listed_by_reason": dict(reasons)}
    if UPDATE:
        ROUND_TRIP.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(ROUND_TRIP.read_text(encoding="utf-8"))
    assert report == expected, "round-trip counts changed (FTGEN_UPDATE_EXPECTED=1 to accept)"


def _reason(message: str) -> str:
    if message.startswith("dataset names ("):
        return "dataset names resolve through dataset_info.json in dataset_dir, which ftgen did not find"
    return message if len(message) < 160 else message[:157] + "..."


@pytest.mark.corpus
def test_untranslatable_keys_and_why():
    """Which source keys do not translate, and the reason each conversion gives (a data file: diffs show)."""
    table: dict[str, dict[str, str]] = {fw: {} for fw in OTHER}
    for fw, path in _corpus():
        cfg = _load(path)
        if not isinstance(cfg, dict) or detect(cfg)[0] != fw:
            continue
        conv = convert_config(cfg, fw, OTHER[fw], path.name, base=path.parent, out=path.parent)
        for p in conv.untranslated:
            key = p.key.split("[")[0].split(".")[0]
            table[fw].setdefault(key, _reason(p.message))
            assert p.message and p.severity == "warning"
    if UPDATE:
        UNTRANSLATABLE.parent.mkdir(parents=True, exist_ok=True)
        UNTRANSLATABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(UNTRANSLATABLE.read_text(encoding="utf-8"))
    assert table == expected, "untranslatable keys changed (FTGEN_UPDATE_EXPECTED=1 to accept)"
    # the reasons a reviewer needs most are spelt out, not generic
    assert "bf16: auto" in table["axolotl"]["bf16"]
    assert "per-epoch" in table["axolotl"]["saves_per_epoch"]
    assert "dataset_info.json" in table["llamafactory"]["dataset"]


# ---------------------------------------------------------------------------------------------- what used to be lost

AX = {
    "base_model": "m",
    "adapter": "lora",
    "lora_r": 8,
    "lora_alpha": 16,
    "learning_rate": 1e-4,
    "micro_batch_size": 1,
    "datasets": [{"path": "tatsu-lab/alpaca", "type": "alpaca"}],
}


def test_eval_steps_keep_evaluation_on():
    """Axolotl evaluates every eval_steps when rows are held out; LLaMA-Factory's default is eval_strategy: no."""
    conv = convert_config({**AX, "val_set_size": 0.05, "eval_steps": 50}, "axolotl", "llamafactory")
    c = conv.config
    assert c["eval_strategy"] == "steps" and c["eval_steps"] == 50 and c["val_size"] == 0.05
    assert not convert_config({**AX, "val_set_size": 0}, "axolotl", "llamafactory").config.get("eval_strategy")


def test_packing_keeps_examples_apart():
    """Axolotl's sample packing never lets packed examples attend to each other: LLaMA-Factory's neat_packing."""
    c = convert_config({**AX, "sample_packing": True}, "axolotl", "llamafactory").config
    assert c["packing"] is True and c["neat_packing"] is True
    pretrain = {
        **AX,
        "sample_packing": True,
        "datasets": [{"path": "d.jsonl", "ds_type": "json", "type": "completion"}],
    }
    c = convert_config(pretrain, "axolotl", "llamafactory").config
    assert c["stage"] == "pt" and c["packing"] is True and "neat_packing" not in c  # refused outside SFT
    # LLaMA-Factory packing without neat_packing lets examples see each other: Axolotl cannot, and says so
    lf = {"model_name_or_path": "m", "stage": "sft", "finetuning_type": "lora", "packing": True, "learning_rate": 1e-4}
    conv = convert_config(lf, "llamafactory", "axolotl")
    assert conv.config["sample_packing"] is True
    assert any(p.key == "packing" and "apart" in p.message for p in conv.untranslated)


def test_ftgen_warmup_steps_and_a_warmup_ratio_survive_from_llamafactory():
    """ftgen writes LLaMA-Factory's warmup as whole steps (FT178); a hand-written `warmup_steps: 0.03` is a ratio
    on transformers 5.x and converts as one."""
    cfg = _load(EXPECTED / "cpu-tiny-local-model" / "llamafactory.yaml")
    assert isinstance(cfg["warmup_steps"], int) and cfg["warmup_steps"] >= 1
    conv = convert_config(cfg, "llamafactory", "axolotl")
    assert conv.config["warmup_steps"] == cfg["warmup_steps"] and "warmup_ratio" not in conv.config
    ratio = convert_config({**cfg, "warmup_steps": 0.03}, "llamafactory", "axolotl")
    assert ratio.config["warmup_ratio"] == 0.03 and "warmup_steps" not in ratio.config
    assert not any("warmup" in p.key for p in ratio.untranslated)
    back = convert_config(ratio.config, "axolotl", "llamafactory")
    assert back.config["warmup_steps"] == 0.03


def test_liger_kernels_have_a_counterpart():
    liger = {
        **AX,
        "plugins": ["axolotl.integrations.liger.LigerPlugin"],
        "liger_rope": True,
        "liger_rms_norm": True,
        "liger_glu_activation": True,
        "liger_fused_linear_cross_entropy": True,
    }
    conv = convert_config(liger, "axolotl", "llamafactory")
    assert conv.config["enable_liger_kernel"] is True
    assert not any("liger" in p.key or p.key == "plugins" for p in conv.untranslated)
    back = convert_config(conv.config, "llamafactory", "axolotl").config
    assert back["plugins"] == ["axolotl.integrations.liger.LigerPlugin"] and back["liger_rms_norm"] is True


def test_datasets_round_trip_through_dataset_info():
    ax = {
        **AX,
        "datasets": [
            {"path": "tatsu-lab/alpaca", "type": "alpaca"},
            {
                "path": "data/chat.jsonl",
                "ds_type": "json",
                "type": "chat_template",
                "field_messages": "messages",
                "message_property_mappings": {"role": "role", "content": "content"},
            },
            {
                "path": "data/text.jsonl",
                "ds_type": "json",
                "type": "completion",
                "field": "body",
                "split": "train[:90%]",
            },
            {
                "path": "data/sg.jsonl",
                "ds_type": "json",
                "type": "chat_template",
                "field_messages": "conversations",
                "message_property_mappings": {"role": "from", "content": "value"},
            },
        ],
    }
    a, b = _round_trip("axolotl", ax, "x.yaml")
    info = json.loads(a.extra_files["dataset_info.json"])
    assert a.config["dataset"] == "train_0,train_1,train_2,train_3" and a.config["dataset_dir"] == "."
    assert info["train_1"]["tags"]["user_tag"] == "user" and info["train_0"]["hf_hub_url"] == "tatsu-lab/alpaca"
    assert info["train_3"]["formatting"] == "sharegpt" and info["train_3"]["columns"] == {"messages": "conversations"}
    assert _read("axolotl", b.config).fields["datasets"] == _read("axolotl", ax).fields["datasets"]
    assert not a.untranslated and not b.untranslated


def test_existing_dataset_info_is_merged_not_overwritten(tmp_path, cli):
    out = tmp_path / "out"
    out.mkdir()
    theirs = {
        "identity": {"file_name": "identity.json"},
        "train_0": {"hf_hub_url": "someone/else", "formatting": "alpaca"},
    }
    (out / "dataset_info.json").write_text(json.dumps(theirs))
    src = tmp_path / "ax.yaml"
    src.write_text(yaml.safe_dump(AX))
    res = cli("convert", str(src), "--to", "llamafactory", "-o", str(out / "lf.yaml"))
    assert res.exit_code == 0, res.output
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["identity"] == theirs["identity"] and info["train_0"] == theirs["train_0"], "existing entries kept"
    cfg = yaml.safe_load((out / "lf.yaml").read_text())
    [name] = cfg["dataset"].split(",")
    assert name != "train_0" and info[name]["hf_hub_url"] == "tatsu-lab/alpaca"
    assert "merged with the existing file" in (out / "lf.yaml").read_text()
    # converting the same config again reuses the entry instead of adding another
    assert cli("convert", str(src), "--to", "llamafactory", "-o", str(out / "lf.yaml")).exit_code == 0
    assert json.loads((out / "dataset_info.json").read_text()) == info


def test_relative_data_paths_are_rebased_to_the_output_folder(tmp_path, cli):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.jsonl").write_text('{"instruction": "a", "input": "", "output": "b"}\n')
    (project / "models" / "tiny").mkdir(parents=True)
    src = project / "ax.yaml"
    src.write_text(
        yaml.safe_dump(
            {
                **AX,
                "base_model": "models/tiny",
                "datasets": [{"path": "data/train.jsonl", "ds_type": "json", "type": "alpaca"}],
            }
        )
    )
    out = tmp_path / "elsewhere" / "deep"
    assert cli("convert", str(src), "--to", "llamafactory", "-o", str(out / "lf.yaml")).exit_code == 0
    cfg = yaml.safe_load((out / "lf.yaml").read_text())
    info = json.loads((out / "dataset_info.json").read_text())
    assert (out / cfg["model_name_or_path"]).resolve() == (project / "models" / "tiny").resolve()
    assert (out / cfg["dataset_dir"] / info["train_0"]["file_name"]).resolve() == (project / "data" / "train.jsonl")
    # and back: LLaMA-Factory's file_name is relative to dataset_dir, which is relative to the config
    back = tmp_path / "back"
    assert cli("convert", str(out / "lf.yaml"), "--to", "axolotl", "-o", str(back / "ax.yaml")).exit_code == 0
    ax = yaml.safe_load((back / "ax.yaml").read_text())
    assert (back / ax["datasets"][0]["path"]).resolve() == (project / "data" / "train.jsonl")


def test_defaults_that_differ_are_written_out():
    conv = convert_config({**AX, "micro_batch_size": None}, "axolotl", "llamafactory")
    c = conv.config
    assert c["num_train_epochs"] == 1.0 and c["per_device_train_batch_size"] == 1 and c["cutoff_len"] == 512
    assert c["lr_scheduler_type"] == "cosine" and c["disable_gradient_checkpointing"] is True
    assert c["warmup_steps"] == 0.03  # Axolotl warms up over 3% of the steps when nothing is said
    assert any(n.startswith("num_epochs") for n in conv.notes)
    back = convert_config(
        {"model_name_or_path": "m", "finetuning_type": "lora", "lora_rank": 16}, "llamafactory", "axolotl"
    )
    assert back.config["lora_alpha"] == 32 and back.config["learning_rate"] == 5e-5


def test_values_the_target_does_not_have_are_listed_not_written():
    conv = convert_config({**AX, "optimizer": "ao_adamw_8bit"}, "axolotl", "llamafactory")
    assert "optim" not in conv.config
    assert any(p.key == "optimizer" and "not allowed" in p.message for p in conv.untranslated)


def test_same_framework_or_unknown_is_invalid_input():
    with pytest.raises(FtgenError):
        convert_config({"base_model": "m"}, "axolotl", "axolotl")
    with pytest.raises(FtgenError, match="unsupported framework"):
        convert_config({"base_model": "m"}, "axolotl", "nope")


def test_cli_convert(cli, tmp_path):
    src = tmp_path / "ax.yaml"
    src.write_text(
        yaml.safe_dump(
            {
                "base_model": "m",
                "learning_rate": 1e-4,
                "adapter": "qlora",
                "load_in_4bit": True,
                "lora_r": 16,
                "lora_alpha": 32,
                "lora_target_linear": True,
                "bf16": "auto",
                "datasets": [{"path": "tatsu-lab/alpaca", "type": "alpaca"}],
            }
        )
    )
    out = tmp_path / "out" / "lf.yaml"
    res = cli("convert", str(src), "--to", "llamafactory", "-o", str(out))
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "# Not translated (1)" in text and "bf16: auto" in text
    lf = yaml.safe_load(text)
    assert lf["quantization_bit"] == 4 and lf["lora_target"] == "all" and lf["finetuning_type"] == "lora"
    assert (out.parent / "dataset_info.json").is_file()
    assert cli("convert", str(src), "--to", "llamafactory", "--strict").exit_code == 1
    res = cli("convert", str(src), "--to", "llamafactory", "--json")
    assert json.loads(res.output)["untranslated"][0]["key"] == "bf16"
    back = cli("convert", str(out), "--to", "axolotl")
    assert back.exit_code == 0 and "adapter: qlora" in back.output
    assert cli("convert", str(src), "--to", "axolotl").exit_code == 2


def test_plugins_of_two_rows_are_merged_and_cce_is_on_with_its_plugin():
    lf = {"model_name_or_path": "m", "finetuning_type": "lora", "learning_rate": 1e-4, "enable_liger_kernel": True}
    ax = convert_config(lf, "llamafactory", "axolotl").config
    assert ax["plugins"] == ["axolotl.integrations.liger.LigerPlugin"]
    both = frameworks.get("axolotl").write({"liger_kernel": True, "use_cut_cross_entropy": True}).config
    assert both["plugins"] == [
        "axolotl.integrations.liger.LigerPlugin",
        "axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin",
    ]
    # the plugin alone switches Cut Cross-Entropy on (cut_cross_entropy defaults to true)
    cce = {**AX, "plugins": ["axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin"]}
    assert _read("axolotl", cce).fields["use_cut_cross_entropy"] is True
    conv = convert_config(cce, "axolotl", "llamafactory")
    assert [p.key for p in conv.untranslated if "Cut Cross-Entropy" in p.message] == ["cut_cross_entropy", "plugins"]
