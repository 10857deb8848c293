"""Live check, where the framework envs exist: lint's verdicts match the frameworks' own validators right now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from _lintdata import corpus_files, load_json, needs_corpus

from generator import envs
from generator.lint import lint_paths
from generator.validate import native_validate_many

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "lint.py"
_spec = importlib.util.spec_from_file_location("ftgen_benchmark_lint", _BENCH)
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
native_verdict = _bench.native_verdict  # which native rejections are about the machine, not the config

pytestmark = needs_corpus


@pytest.mark.parametrize("framework", ["axolotl", "llamafactory"])
def test_recorded_and_live_verdicts_agree(framework):
    env = envs.get_env(framework)
    if env is None:
        pytest.skip(f"no {framework} env (ftgen env install {framework})")
    files = [p for fw, p in corpus_files() if fw == framework]
    native = native_validate_many(framework, files, env, target="gpu", timeout=1800)
    recorded = load_json("native_verdicts.json").get(framework, {})
    for result, path in zip(lint_paths(files), files):
        verdict, messages = native_verdict(native[str(path.absolute())], framework)
        if recorded:
            assert recorded[path.name]["native"] == verdict or "env" in (verdict, recorded[path.name]["native"]), (
                f"{path.name}: recorded {recorded[path.name]}, live {verdict} {messages[:2]}"
            )
        if verdict != "env":
            assert result.refused_by_framework == (verdict == "invalid"), f"{path.name}: native {messages[:2]}"
