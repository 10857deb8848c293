"""Lint on the frameworks' own example configs: expected findings per file, verdicts as the frameworks give them."""

from __future__ import annotations

import json

import pytest
from _lintdata import CORPUS, DATA, UPDATE, corpus_files, load_json, needs_corpus

from generator.lint import lint_file

pytestmark = needs_corpus
EXPECTED_FILE = DATA / "corpus_expected.json"


def _summary(result) -> list[str]:
    """One line per finding: rule, severity, key path and line (what a change would show in a diff)."""
    return [f"{f.rule} {f.severity} {f.key or '<file>'}@{f.line}" for f in result.findings]


@pytest.fixture(scope="module")
def results():
    return {(fw, p.name): lint_file(p) for fw, p in corpus_files()}


def test_expected_findings_per_file(results):
    actual: dict = {"axolotl": {}, "llamafactory": {}}
    for (fw, name), r in sorted(results.items()):
        actual[fw][name] = _summary(r)
    if UPDATE:
        EXPECTED_FILE.parent.mkdir(parents=True, exist_ok=True)
        EXPECTED_FILE.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = load_json(EXPECTED_FILE.name)
    assert expected, f"{EXPECTED_FILE} missing: run FTGEN_UPDATE_EXPECTED=1 pytest tests/lint"
    for fw, files in actual.items():
        assert sorted(files) == sorted(expected.get(fw, {})), "corpus files changed"
        for name, lines in files.items():
            assert lines == expected[fw][name], (
                f"{fw}/{name}: findings changed (FTGEN_UPDATE_EXPECTED=1 to accept):\n"
                f"expected {expected[fw][name]}\nactual   {lines}"
            )


def test_the_corpus_has_both_frameworks_and_all_are_detected(results):
    assert sum(1 for fw, _ in results if fw == "axolotl") >= 150
    assert sum(1 for fw, _ in results if fw == "llamafactory") >= 50
    for (fw, name), r in results.items():
        if r.framework is not None:
            assert r.framework == fw, f"{name} detected as {r.framework} ({r.detected})"
    undetected = [name for (fw, name), r in results.items() if r.framework is None]
    assert undetected == ["extras_multi_tokens_tokens_cfg.yaml"], undetected  # a token-description file


def _verdicts() -> dict:
    data = load_json("native_verdicts.json")
    if not data:
        pytest.skip("no native verdicts recorded (python benchmarks/lint.py --write-verdicts ...)")
    return data


def test_verdicts_agree_with_the_frameworks_own_validators(results):
    """Lint predicts whether Axolotl 0.19.0 / LLaMA-Factory 0.9.5 refuse each config (recorded natively)."""
    verdicts = _verdicts()
    compared = 0
    for fw, files in verdicts.items():
        for name, v in files.items():
            if v["native"] == "env":
                continue  # a missing package or launcher: no verdict on the config
            compared += 1
            r = results[(fw, name)]
            assert r.refused_by_framework == (v["native"] == "invalid"), (
                f"{fw}/{name}: native {v['native']} {v['messages'][:2]}; lint {_summary(r)}"
            )
    assert compared >= 200


def test_no_error_on_configs_the_pinned_version_accepts(results):
    """Where the framework accepts a config, lint's errors are only what it cannot see: keys it drops
    silently (FTL001 with no version evidence) and choices that fail once training starts (FTL006)."""
    verdicts = _verdicts()
    for fw, files in verdicts.items():
        for name, v in files.items():
            if v["native"] != "valid":
                continue
            for f in results[(fw, name)].findings:
                if f.severity == "error":
                    assert f.when in ("silent", "train") and f.rule in ("FTL001", "FTL003", "FTL006"), (
                        f"{fw}/{name}: {f.render()}"
                    )


def test_other_version_findings_say_which_version(results):
    for (fw, name), r in results.items():
        for f in r.findings:
            if f.rule in ("FTL005", "FTL006"):
                assert "belongs to" in f.message and (" 0." in f.message or "v1 config" in f.message), f.render()
                assert f.source, f"{name}: {f.rule} without a source"
                severity = "warning" if fw == "axolotl" and f.rule == "FTL005" else "error"
                assert f.severity == severity, f.render()
            if f.rule == "FTL011":
                assert "LLaMA-Factory v1" in f.message


def test_known_other_version_keys_are_named(results):
    msgs = {(fw, name): [f.message for f in r.findings] for (fw, name), r in results.items()}
    assert any("belongs to Axolotl 0.12.2 and earlier" in m for m in msgs[("axolotl", "deepseek-v2_fft-fsdp-16b.yaml")])
    assert any("LLaMA-Factory 0.9.6.dev0" in m for m in msgs[("llamafactory", "megatron_bridge_llama3_sft.yaml")])
    assert any("moss_vl" in m and "0.9.6.dev0" in m for m in msgs[("llamafactory", "train_lora_mossvl_lora_sft.yaml")])


def test_corpus_is_committed_with_its_source():
    assert (CORPUS / "README.md").is_file()
