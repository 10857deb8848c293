"""The thin CLI: build output and --json, --check/--diff, catalogs, exit codes in --help."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SPEC = REPO / "examples" / "support-bot.yaml"


def test_build_writes_outputs_and_json_summary(cli, tmp_path):
    result = cli("build", str(SPEC), "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["method"] == "qlora" and summary["framework"] == ["axolotl", "llamafactory"]
    names = {p.name for p in (tmp_path / "support-bot").iterdir()}
    assert {"axolotl.yaml", "llamafactory.yaml", "dataset_info.json", "plan.json", "PLAN.md"} <= names
    plan = json.loads((tmp_path / "support-bot" / "plan.json").read_text())
    for key in ("method", "framework", "task", "decisions", "memory", "warnings"):
        assert key in plan
    assert all({"key", "value", "rule", "source", "because"} <= set(d) for d in plan["decisions"])


def test_framework_flag_overrides_the_spec(cli, tmp_path):
    result = cli("build", str(SPEC), "--out", str(tmp_path), "--framework", "axolotl", "--json")
    assert json.loads(result.output)["framework"] == ["axolotl"]


def test_check_and_diff_never_write(cli, tmp_path):
    assert cli("build", str(SPEC), "--out", str(tmp_path)).exit_code == 0
    clean = cli("build", str(SPEC), "--out", str(tmp_path), "--check")
    assert clean.exit_code == 0 and "matches" in clean.output
    cfg = tmp_path / "support-bot" / "axolotl.yaml"
    cfg.write_text(cfg.read_text().replace("lora_r: 16", "lora_r: 8"))
    before = cfg.read_text()
    drift = cli("check", str(SPEC), "--out", str(tmp_path), "--diff")
    assert drift.exit_code == 1 and "would regenerate" in drift.output and "-lora_r: 8" in drift.output
    assert cfg.read_text() == before
    shutil.rmtree(tmp_path / "support-bot")
    missing = cli("build", str(SPEC), "--out", str(tmp_path), "--check")
    assert missing.exit_code == 1 and "(missing)" in missing.output
    assert not (tmp_path / "support-bot").exists()


def test_help_documents_exit_codes(cli):
    result = cli("--help")
    assert "2 invalid input" in result.output and "3 run failed" in result.output


def test_catalog_commands(cli):
    assert "meta-llama/Llama-3.1-8B" in cli("models").output
    assert "H100-80GB" in cli("gpus").output
    targets = cli("targets").output
    assert "grpo" in targets and "not supported" in targets


def test_estimate_prints_the_memory_table_and_cost(cli):
    result = cli("estimate", str(SPEC))
    assert result.exit_code == 0, result.output
    for part in ("weights", "activations", "logits", "total", "measured runs land in", "usable (90%)", "time: ~"):
        assert part in result.output
    data = json.loads(cli("estimate", str(SPEC), "--json").output)
    assert data["memory"]["total_gb"] > 0 and data["time_cost"]["hours"] > 0
    # the error band of the estimate on measured runs, and the margin the plan keeps from it
    assert data["memory"]["low_gb"] < data["memory"]["total_gb"] < data["memory"]["high_gb"]
    assert data["memory"]["fit_margin"] == 0.901


def test_no_held_out_split_turns_step_evaluation_off(cli, tmp_path):
    import yaml

    spec = yaml.safe_load(SPEC.read_text())
    spec["overrides"] = {"val_set_size": 0}
    spec["data"]["train"][0]["path"] = str(SPEC.parent / spec["data"]["train"][0]["path"])
    spec["eval"]["path"] = str(SPEC.parent / spec["eval"]["path"])
    path = tmp_path / "no-val.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert cli("build", str(path), "--out", str(tmp_path)).exit_code == 0
    lf = yaml.safe_load((tmp_path / "support-bot" / "llamafactory.yaml").read_text())
    ax = yaml.safe_load((tmp_path / "support-bot" / "axolotl.yaml").read_text())
    assert lf["eval_strategy"] == "no" and "val_size" not in lf and "eval_steps" not in lf
    assert ax["val_set_size"] == 0 and "eval_steps" not in ax
