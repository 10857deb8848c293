"""The typed Plan: every plan key declared once with its type and rule; every config key a decision; older
plan.json files still read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generator import frameworks, rules
from generator.build import build_file
from generator.plan import Distributed, Method, Plan, Settings, Task, coerce, in_configs, key_types, rules_of

REPO = Path(__file__).resolve().parents[1]
SPECS = sorted((REPO / "tests" / "cases" / "good").glob("*.yaml")) + sorted((REPO / "examples").glob("*.yaml"))
OLD_PLAN = REPO / "tests" / "data" / "plan" / "ftgen-0.1.0-before-frameworks.plan.json"


def test_every_plan_key_names_a_registered_rule():
    ids = {r.id for r in rules.all_rules()}
    for name, f in Settings.keys().items():
        assert set(rules_of(name)) <= ids, name
        assert f.metadata["doc"], name


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_config_key_is_a_decision_of_a_rule_that_decides_it(spec, tmp_path):
    """Each key a config says comes from a plan decision (in plan.json, so review shows its changes), and the
    rule it cites is the one that decides that plan key (`ftgen explain` lists the key under that rule)."""
    b = build_file(spec, tmp_path)
    decided = {d["key"]: d for d in json.loads(b.files["plan.json"])["decisions"]}
    for r in b.rendered:
        written = frameworks.get(r.framework).write(b.plan.values())
        assert set(written.config) == set(r.entries)
        for key, entry in r.entries.items():
            field = next(f for f in written.by[key].fields if f in decided)
            cited = re.search(r"FT\d{3}", entry.rule).group(0)
            assert cited in rules_of(field), f"{r.framework}:{key} cites {cited} for {field}"
            assert cited == decided[field]["rule"]
    assert {"base_model", "datasets", "output_dir", "seed"} <= set(decided)
    # a decision a framework has no key for says why in that framework's module
    for name in b.plan.frameworks:
        written = frameworks.get(name).write(b.plan.values())
        silent = {f for f, why in written.untranslated.items() if in_configs(f) and not why}
        assert silent == set(), f"{name} cannot say {silent} and its module does not say why"


def test_explain_lists_the_config_keys_a_rule_decides(cli):
    text = cli("explain", "FT106").output
    for key in (
        "output_dir",
        "seed",
        "report_to",
        "dataset_prepared_path",
        "overwrite_cache",
        "preprocessing_num_workers",
    ):
        assert key in text, key
    assert "lora_rank" in cli("explain", "FT140").output


def test_closed_choices_are_enums_with_their_plan_json_spelling():
    assert key_types()["method"] is Method and key_types()["distributed"] is Distributed
    assert coerce("method", "qlora") is Method.QLORA and Method.QLORA == "qlora" and f"{Method.QLORA}" == "qlora"
    assert {"qlora": 1}[Method.QLORA] == 1 and json.dumps({"m": Method.QLORA}) == '{"m": "qlora"}'
    assert not Distributed.SINGLE.sharded and not Distributed.DDP.sharded and Distributed.ZERO3.sharded
    assert Distributed("zero2").deepspeed_file == "deepspeed_zero2.json" and Distributed.FSDP.deepspeed_file is None


def test_a_rule_cannot_decide_an_undeclared_key(tmp_path):
    from generator.rules._context import Context

    b = build_file(REPO / "examples" / "tiny-cpu.yaml", tmp_path)
    ctx = Context(b.spec, b.facts)
    with pytest.raises(KeyError, match="not a plan key"):
        ctx.decide("learning_rat", 1e-4, "typo")


def test_plan_json_round_trips_and_older_files_read(tmp_path):
    b = build_file(REPO / "examples" / "tiny-cpu.yaml", tmp_path)
    data = json.loads(b.files["plan.json"])
    plan = Plan.from_dict(data)
    assert plan.to_dict() == b.plan.to_dict()
    assert plan.method is Method.LORA and plan.task is Task.SFT and plan.memory.total_gb > 0
    assert plan.settings.distributed is Distributed.SINGLE and plan.settings.base_model == "models/tiny-llama"
    # a plan.json written before the plan said where the model and data come from
    old = Plan.from_dict(json.loads(OLD_PLAN.read_text()))
    assert old.frameworks == ("axolotl", "llamafactory") and old.settings.base_model is None
    assert old.memory.total_gb > 0 and old.time_cost.hours > 0 and old.settings.method is Method.LORA
    assert Plan.from_dict({}).decisions == () and Plan.from_dict({"memory": {}}).memory is None
