"""FT200-FT202: the spec's tracking block becomes each framework's own keys, plan.json's tracking record and
launch.sh's environment; without it nothing changes and every tracker stays off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator.build import build_file
from generator.write import write_all

BASE = """name: {name}
base_model: Qwen/Qwen2.5-7B
data: {{train: [{{path: org/ds, format: alpaca}}], examples: 5000}}
framework: both
"""


def _build(tmp_path: Path, tracking: str | None, name: str = "tracked"):
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir(exist_ok=True)
    spec = spec_dir / f"{name}.yaml"
    spec.write_text(BASE.format(name=name) + (tracking or ""), encoding="utf-8")
    b = build_file(spec, tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    out = b.out_dir
    ax = yaml.safe_load((out / "axolotl.yaml").read_text())
    lf = yaml.safe_load((out / "llamafactory.yaml").read_text())
    return b, ax, lf, json.loads((out / "plan.json").read_text()), (out / "launch.sh").read_text()


TRACKER_KEYS = ("use_mlflow", "use_wandb", "use_tensorboard", "mlflow_tracking_uri", "mlflow_experiment_name")


def test_no_tracking_block_keeps_every_tracker_off(tmp_path):
    b, ax, lf, plan, launch = _build(tmp_path, None)
    assert lf["report_to"] == "none" and "run_name" not in lf
    assert not any(k in ax for k in TRACKER_KEYS + ("wandb_project", "wandb_name"))
    assert "tracking" not in plan
    assert not any(d["rule"] in ("FT200", "FT201", "FT202") for d in plan["decisions"])
    assert "export DO_NOT_TRACK=1 WANDB_MODE=disabled WANDB_DISABLED=true" in launch
    assert "MLFLOW_" not in launch


def test_backend_none_is_no_tracking(tmp_path):
    _, ax, lf, plan, _ = _build(tmp_path, "tracking: {backend: none, project: later}\n")
    assert lf["report_to"] == "none" and "tracking" not in plan and "use_mlflow" not in ax


def test_mlflow_default_store_beside_the_spec(tmp_path):
    b, ax, lf, plan, launch = _build(tmp_path, "tracking: {backend: mlflow}\n")
    # Axolotl: its own keys, the store rebased from the spec folder to the config's folder
    assert ax["use_mlflow"] is True
    assert ax["mlflow_experiment_name"] == "tracked"
    assert ax["mlflow_tracking_uri"] == "sqlite:///../../specs/mlflow.db"
    assert (b.out_dir / "../../specs/mlflow.db").resolve() == (tmp_path / "specs" / "mlflow.db").resolve()
    # LLaMA-Factory: report_to and run_name; the rest through MLFLOW_* variables
    assert lf["report_to"] == "mlflow" and lf["run_name"] == "tracked"
    assert plan["tracking"] == {
        "backends": ["mlflow"],
        "run_name": "tracked",
        "mlflow": {"experiment": "tracked", "uri": "sqlite:///../../specs/mlflow.db"},
        "tags": {},
    }
    rules = {d["key"]: (d["rule"], d["source"]) for d in plan["decisions"]}
    assert rules["report_to"] == ("FT200", "spec")
    assert rules["mlflow_experiment_name"] == ("FT201", "rule")
    assert rules["mlflow_tracking_uri"] == ("FT202", "rule")
    # launch.sh: W&B stays off, MLflow gets the build's store (relative to launch.sh's folder, where it runs)
    assert "WANDB_MODE=disabled" in launch
    assert "MLFLOW_TRACKING_URI=sqlite:///../../specs/mlflow.db" in launch
    assert "MLFLOW_EXPERIMENT_NAME=tracked" in launch
    # every rendered key cites its rule
    text = (b.out_dir / "axolotl.yaml").read_text()
    assert "[FT202]" in text and "[spec (FT200)]" in text and "[FT201]" in text


def test_several_backends_a_project_tags_and_a_server(tmp_path):
    block = (
        "tracking:\n  backend: [mlflow, wandb, tensorboard]\n  project: support-bot\n"
        "  uri: https://mlflow.example.com\n  tags: {team: support, pilot: true}\n"
    )
    b, ax, lf, plan, launch = _build(tmp_path, block)
    assert ax["use_mlflow"] is ax["use_wandb"] is ax["use_tensorboard"] is True
    assert ax["wandb_project"] == ax["mlflow_experiment_name"] == "support-bot"
    assert ax["wandb_name"] == "tracked"
    assert ax["mlflow_tracking_uri"] == "https://mlflow.example.com"
    assert lf["report_to"] == ["mlflow", "wandb", "tensorboard"]
    assert plan["tracking"]["tags"] == {"team": "support", "pilot": "true"}
    assert plan["tracking"]["wandb"] == {"project": "support-bot"}
    # W&B is a backend: launch.sh does not disable it (WANDB_MODE=offline from the caller still works)
    assert "WANDB_MODE=disabled" not in launch and "WANDB_DISABLED" not in launch
    assert "WANDB_PROJECT=support-bot" in launch and "WANDB_TAGS=team:support,pilot:true" in launch


@pytest.mark.parametrize(
    "uri,expected",
    [
        ("sqlite:///db/runs.db", "sqlite:///../../specs/db/runs.db"),
        ("file:mlruns", "file:../../specs/mlruns"),
        ("mlruns", "../../specs/mlruns"),
        ("sqlite:////srv/mlflow.db", "sqlite:////srv/mlflow.db"),
        ("databricks", "databricks"),
    ],
)
def test_relative_stores_are_relative_to_the_spec(tmp_path, uri, expected):
    _, ax, _, plan, _ = _build(tmp_path, f"tracking: {{backend: mlflow, uri: '{uri}'}}\n")
    assert ax["mlflow_tracking_uri"] == expected
    assert plan["tracking"]["mlflow"]["uri"] == expected


def test_no_token_from_the_environment_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret-value-123456")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mlflow-secret-value-123456")
    b, *_ = _build(tmp_path, "tracking: {backend: [mlflow, wandb]}\n")
    for f in b.out_dir.rglob("*"):
        if f.is_file():
            text = f.read_text(encoding="utf-8", errors="replace")
            assert "secret-value" not in text, f


def test_tracking_rules_are_documented():
    from generator.rules import get

    for rid in ("FT200", "FT201", "FT202"):
        r = get(rid)
        assert r is not None and r.section("What") and r.section("References")
