"""generator/tracking.py: local stores rebased between folders, the record plan.json keeps, the run's variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.tracking import Tracking, absolute, local_store, rebase


@pytest.mark.parametrize(
    "uri,rebased,made_absolute",
    [
        ("sqlite:///mlflow.db", "sqlite:///../s/mlflow.db", "sqlite:////r/s/mlflow.db"),
        ("file:mlruns", "file:../s/mlruns", "file:///r/s/mlruns"),
        ("file://runs/x", "file:../s/runs/x", "file:///r/s/runs/x"),
        ("mlruns", "../s/mlruns", "/r/s/mlruns"),
        ("sqlite:////srv/m.db", "sqlite:////srv/m.db", "sqlite:////srv/m.db"),
        ("/srv/mlruns", "/srv/mlruns", "/srv/mlruns"),
        ("https://mlflow.example.com", "https://mlflow.example.com", "https://mlflow.example.com"),
        ("databricks", "databricks", "databricks"),
    ],
)
def test_rebase_and_absolute(uri, rebased, made_absolute):
    assert rebase(uri, Path("/r/s"), Path("/r/out")) == rebased
    assert absolute(uri, Path("/r/s")) == made_absolute


def test_local_store():
    assert local_store("sqlite:///a/m.db", Path("/r")) == Path("/r/a/m.db")
    assert local_store("http://host", Path("/r")) is None


def test_record_round_trip_and_environment():
    t = Tracking(("mlflow", "wandb"), "spec", "exp", "sqlite:///../m.db", "proj", {"team": "a", "x": "1"})
    assert Tracking.from_dict(t.to_dict()) == t
    assert Tracking.from_dict(None) is None and Tracking.from_dict({"backends": []}) is None
    rel = t.env()
    assert rel == {
        "MLFLOW_TRACKING_URI": "sqlite:///../m.db",  # launch.sh runs in the build folder
        "MLFLOW_EXPERIMENT_NAME": "exp",
        "WANDB_PROJECT": "proj",
        "WANDB_NAME": "spec",
        "WANDB_TAGS": "team:a,x:1",
    }
    run = t.env(Path("/b/outputs/x"), run_name="20260101-000000-axolotl")
    assert run["MLFLOW_TRACKING_URI"] == "sqlite:////b/outputs/m.db"  # `ftgen run` starts in the run folder
    assert run["WANDB_NAME"] == "20260101-000000-axolotl"
    assert not any("TOKEN" in k or "KEY" in k for k in run)  # credentials only ever come from the caller


def test_tensorboard_alone_needs_no_variables():
    assert Tracking(("tensorboard",), "spec").env() == {}
