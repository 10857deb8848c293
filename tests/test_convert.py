"""convert: reverse maps invert the forward maps; A -> B -> A keeps every translatable field; nothing is dropped silently."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from generator.convert import convert_config
from generator.errors import FtgenError
from generator.lint._detect import detect
from generator.render import _reverse as R
from generator.validate import validate_config

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "data" / "corpus"
EXPECTED = ROOT / "cases" / "good" / "expected"
UNTRANSLATABLE = ROOT / "data" / "convert" / "untranslatable.json"
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


def _round_trip(fw: str, cfg: dict, name: str):
    a = convert_config(cfg, fw, OTHER[fw], name)
    info = json.loads(a.extra_files["dataset_info.json"]) if "dataset_info.json" in a.extra_files else None
    b = convert_config(a.config, OTHER[fw], fw, name, info)
    return a, b


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
)
_CASES = sorted(p for p in EXPECTED.iterdir() if (p / "plan.json").is_file()) if EXPECTED.is_dir() else []


@pytest.mark.parametrize("case", _CASES, ids=lambda p: p.name)
def test_reverse_maps_read_back_what_the_forward_maps_wrote(case):
    plan = json.loads((case / "plan.json").read_text())
    spec = _load(case.parent.parent / f"{case.name}.yaml") or {}
    overridden = spec.get("framework_overrides") or {}
    decided = {d["key"]: d["value"] for d in plan["decisions"]}
    decided["method"] = plan["method"]
    seen = 0
    for fw, name in (("axolotl", "axolotl.yaml"), ("llamafactory", "llamafactory.yaml")):
        if not (case / name).is_file():
            continue
        n = R.to_neutral(fw, _load(case / name))
        assert n.get("task") == plan["task"], f"{name}: task"
        for field in _PLAN_FIELDS:
            if set(n.origin.get(field, ())) & set(overridden.get(fw, {})):
                continue  # the spec overrides this key for this framework
            if field in n.fields and field in decided:
                want = decided[field]
                got = n.fields[field]
                if isinstance(want, (int, float)) and isinstance(got, (int, float)):
                    assert float(got) == pytest.approx(float(want)), f"{name}: {field}"
                else:
                    assert got == want, f"{name}: {field}"
                seen += 1
        for key in ("learning_rate", "micro_batch_size", "sequence_len", "method", "optimizer"):
            assert key in n.fields, f"{name}: {key} not read back"
    assert seen >= 10


@pytest.mark.parametrize("case", _CASES, ids=lambda p: p.name)
def test_generated_configs_convert_to_valid_configs(case):
    for fw, name in (("axolotl", "axolotl.yaml"), ("llamafactory", "llamafactory.yaml")):
        if (case / name).is_file():
            conv = convert_config(_load(case / name), fw, OTHER[fw], name)
            errors = [p for p in validate_config(OTHER[fw], conv.config, "out") if p.severity == "error"]
            assert not errors, [p.render() for p in errors]


# ---------------------------------------------------------------------------------------------- corpus round trips


needs_corpus = pytest.mark.corpus  # the corpus is committed: a missing file fails, never skips


@needs_corpus
def test_round_trips_keep_every_translatable_field():
    """A -> B -> A: every field translated on the way out comes back with the same value, or the way back
    names it as untranslatable (with why). Nothing disappears silently."""
    kept = 0
    lost: dict[str, list[str]] = {}
    for fw, path in _corpus():
        cfg = _load(path)
        if not isinstance(cfg, dict) or detect(cfg)[0] != fw:
            continue
        a, b = _round_trip(fw, cfg, path.name)
        before, after = R.to_neutral(fw, cfg).fields, R.to_neutral(fw, b.config).fields
        back_untranslated = {p.key for p in b.untranslated}
        for field in a.translated:
            if field not in before:
                continue
            if before[field] == after.get(field):
                kept += 1
                continue
            # lost on the way back: the second conversion must say so, naming the key it came from
            dst_keys = {k for k, name in R.SIMPLE[OTHER[fw]].items() if name == field} | R.COMPOSITE_KEYS[OTHER[fw]]
            assert back_untranslated & dst_keys, f"{path.name}: {field} {before[field]!r} lost silently"
            lost.setdefault(field, []).append(path.name)
    assert kept >= 5000
    # the only fields that do not survive a round trip, and why (also in the report of each conversion):
    assert set(lost) <= {"task", "warmup_steps"}, lost
    assert len(lost.get("warmup_steps", [])) <= 3  # fractional warmup_steps: valid for LLaMA-Factory, not Axolotl
    assert len(lost.get("task", [])) <= 5  # Axolotl pretraining from pretraining_dataset, which does not convert


@needs_corpus
def test_untranslatable_keys_and_why():
    """Which source keys do not translate, and the reason each conversion gives (a data file: diffs show)."""
    table: dict[str, dict[str, str]] = {"axolotl": {}, "llamafactory": {}}
    for fw, path in _corpus():
        cfg = _load(path)
        if not isinstance(cfg, dict) or detect(cfg)[0] != fw:
            continue
        conv = convert_config(cfg, fw, OTHER[fw], path.name)
        for p in conv.untranslated:
            key = p.key.split("[")[0].split(".")[0]
            why = (
                p.message
                if not p.message.startswith("dataset names (")
                else "dataset names resolve through dataset_info.json in dataset_dir, which ftgen did not find"
            )
            table[fw].setdefault(key, why if len(why) < 160 else why[:157] + "...")
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


def test_datasets_round_trip_through_dataset_info():
    ax = {
        "base_model": "m",
        "adapter": "lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "learning_rate": 1e-4,
        "micro_batch_size": 1,
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
        ],
    }
    a, b = _round_trip("axolotl", ax, "x.yaml")
    info = json.loads(a.extra_files["dataset_info.json"])
    assert a.config["dataset"] == "dataset_0,dataset_1,dataset_2" and a.config["dataset_dir"] == "."
    assert info["dataset_1"]["tags"]["user_tag"] == "user" and info["dataset_0"]["hf_hub_url"] == "tatsu-lab/alpaca"
    assert b.config["datasets"] == ax["datasets"]
    assert not a.untranslated and not b.untranslated


def test_defaults_that_differ_are_written_out():
    conv = convert_config(
        {"base_model": "m", "learning_rate": 1e-4, "datasets": [{"path": "d", "type": "alpaca"}], "adapter": "lora"},
        "axolotl",
        "llamafactory",
    )
    c = conv.config
    assert c["num_train_epochs"] == 1.0 and c["per_device_train_batch_size"] == 1 and c["cutoff_len"] == 512
    assert c["lr_scheduler_type"] == "cosine" and c["disable_gradient_checkpointing"] is True
    assert any("num_train_epochs" in n for n in conv.notes)


def test_values_the_target_does_not_have_are_listed_not_written():
    conv = convert_config(
        {
            "base_model": "m",
            "learning_rate": 1e-4,
            "optimizer": "ao_adamw_8bit",
            "adapter": "lora",
            "datasets": [{"path": "d", "type": "alpaca"}],
        },
        "axolotl",
        "llamafactory",
    )
    assert "optim" not in conv.config
    assert any(p.key == "optimizer" and "not allowed" in p.message for p in conv.untranslated)


def test_same_framework_or_unknown_is_invalid_input():
    with pytest.raises(FtgenError):
        convert_config({"base_model": "m"}, "axolotl", "axolotl")


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
