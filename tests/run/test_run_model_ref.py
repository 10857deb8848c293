"""`ftgen validate` and `ftgen run` refuse a config whose model a framework could not download: an alias, no id."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.build import build_file
from generator.write import write_all


@pytest.fixture
def build_dir(tmp_path):
    spec = tmp_path / "bot.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "bot",
                "base_model": "llama-3.1-8b-instruct",  # an alias: the build writes the hub id
                "data": {"train": [{"path": "org/chats", "format": "sharegpt"}], "examples": 6000},
                "hardware": {"gpu": "A100-80GB"},
                "framework": "both",
            }
        )
    )
    b = build_file(spec, tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    return b.out_dir


def _set_model(folder: Path, framework: str, value: str) -> None:
    name = f"{framework}.yaml"
    key = "base_model" if framework == "axolotl" else "model_name_or_path"
    text = (folder / name).read_text()
    old = yaml.safe_load(text)[key]
    (folder / name).write_text(text.replace(f"{key}: {old}", f"{key}: {value}"))


@pytest.mark.parametrize("framework", ["axolotl", "llamafactory"])
def test_the_built_configs_pass(framework, build_dir, cli, tmp_path):
    result = cli("validate", str(build_dir), "--framework", framework, "--env-dir", str(tmp_path / "no-envs"))
    assert result.exit_code == 0, result.output
    assert "schema ok" in result.output


@pytest.mark.parametrize(
    ("value", "message", "allowed"),
    [
        ("llama-3.1-8b-instruct", "an ftgen catalog alias, not a hub id", "meta-llama/Llama-3.1-8B-Instruct"),
        ("qwen2.5-7b", "an ftgen catalog alias, not a hub id", "Qwen/Qwen2.5-7B"),
        ("./no/such/dir", "neither a local directory", "org/name"),
        ("mistralai/Mistral-7B-v0.1", "not the model this build was planned for", "meta-llama/Llama-3.1-8B-Instruct"),
    ],
)
@pytest.mark.parametrize("framework", ["axolotl", "llamafactory"])
def test_validate_catches_an_alias_or_unknown_id(framework, value, message, allowed, build_dir, cli, tmp_path):
    _set_model(build_dir, framework, value)
    result = cli("validate", str(build_dir), "--framework", framework, "--env-dir", str(tmp_path / "no-envs"))
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert message in text and allowed in text


def test_a_local_directory_needs_config_json(build_dir, cli, tmp_path):
    (build_dir / "weights").mkdir()
    _set_model(build_dir, "axolotl", "weights")
    result = cli("validate", str(build_dir), "--framework", "axolotl", "--env-dir", str(tmp_path / "no-envs"))
    assert result.exit_code == 2 and "has no config.json" in result.output
    (build_dir / "weights" / "config.json").write_text("{}")
    result = cli("validate", str(build_dir), "--framework", "axolotl", "--env-dir", str(tmp_path / "no-envs"))
    assert result.exit_code == 0, result.output
