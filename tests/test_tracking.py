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


def test_build_and_lint_never_import_a_tracker(tmp_path):
    """MLflow (and W&B) are imported only by `ftgen run` when a build has trackers: build and lint stay light."""
    import subprocess
    import sys

    spec = tmp_path / "t.yaml"
    spec.write_text(
        "name: t\nbase_model: Qwen/Qwen2.5-7B\ndata: {train: [{path: org/ds, format: alpaca}], examples: 5000}\n"
        "tracking: {backend: [mlflow, wandb]}\n",
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from generator.cli import main\n"
        f"for args in (['build', {str(spec)!r}, '--out', {str(tmp_path / 'out')!r}],"
        f" ['lint', {str(tmp_path / 'out' / 't' / 'axolotl.yaml')!r}]):\n"
        "    try:\n        main(args)\n    except SystemExit as e:\n        assert e.code in (0, 1, None), e.code\n"
        "bad = [m for m in ('mlflow', 'wandb', 'torch', 'sqlalchemy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_one_mlflow_pin_for_ftgen_and_both_framework_envs():
    import tomllib

    from generator import frameworks
    from generator.tracking import MLFLOW_REQUIREMENTS

    root = Path(__file__).resolve().parent.parent
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(MLFLOW_REQUIREMENTS) <= set(deps)
    for fw in frameworks.all_frameworks():
        pips = [a for step in fw.env.steps for a in (step.pip or ())]
        assert set(MLFLOW_REQUIREMENTS) <= set(pips), fw.name


def test_one_wandb_pin_for_ftgens_extra_its_tests_and_the_llamafactory_env():
    """wandb is ftgen's optional `wandb` extra (the tests install it: the `test` extra) at the version Axolotl 0.19's
    env resolves; the LLaMA-Factory env installs the same so its `report_to: wandb` works."""
    import tomllib

    from generator import frameworks
    from generator.tracking import WANDB_REQUIREMENT

    root = Path(__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["wandb"] == [WANDB_REQUIREMENT]
    assert WANDB_REQUIREMENT in extras["test"]
    assert "wandb" not in " ".join(tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"])
    pips = [a for step in frameworks.get("llamafactory").env.steps for a in (step.pip or ())]
    assert WANDB_REQUIREMENT in pips


def test_build_keeps_a_gitignore_for_runs_and_tracker_files(tmp_path):
    import subprocess

    from generator.build import build_file, write_build

    spec = tmp_path / "t.yaml"
    spec.write_text(
        "name: t\nbase_model: Qwen/Qwen2.5-7B\ndata: {train: [{path: org/ds, format: alpaca}], examples: 5000}\n"
        "tracking: {backend: mlflow}\n",
        encoding="utf-8",
    )
    out = tmp_path / "outputs"
    out.mkdir()
    (out / ".gitignore").write_text("mine/", encoding="utf-8")  # a user's line, no final newline
    write_build(build_file(spec, out))
    write_build(build_file(spec, out))  # kept, not appended twice
    lines = (out / ".gitignore").read_text().splitlines()
    assert lines[0] == "mine/" and lines.count("mlflow.db") == 1
    assert {"*/runs/", "mlruns/", "mlartifacts/", "wandb/", "mlflow.db"} <= set(lines)
    # git agrees: what MLflow and W&B write under outputs/ is ignored
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name in ("t/runs/x/run.json", "mlruns/0/meta.yaml", "t/wandb/run-1/files", "mlflow.db"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
        check = subprocess.run(["git", "-C", str(tmp_path), "check-ignore", "-q", str(out / name)])
        assert check.returncode == 0, name


def test_a_build_without_tracking_writes_no_gitignore(tmp_path):
    from generator.build import build_file, write_build

    spec = tmp_path / "t.yaml"
    spec.write_text(
        "name: t\nbase_model: Qwen/Qwen2.5-7B\ndata: {train: [{path: org/ds, format: alpaca}], examples: 5000}\n",
        encoding="utf-8",
    )
    write_build(build_file(spec, tmp_path / "outputs"))
    assert not (tmp_path / "outputs" / ".gitignore").exists()
