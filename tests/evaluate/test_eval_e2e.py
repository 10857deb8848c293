"""`ftgen run` on the tiny model scores base vs fine-tuned on the colour eval set, per framework; report and compare.

Needs the framework envs. The colour task (16 facts: 80 training rows asking 5 ways, 16 eval prompts asking a
6th) is learnt by a full fine-tune of the random-initialised tiny Llama in ~150 CPU steps (LLaMA-Factory: exact
match 0 -> 1.0, measured 2026-12-02); the demo's LoRA run reaches 0.94 in 160 steps, but full learns it faster.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from generator import envs

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
pytestmark = pytest.mark.e2e
SETTINGS = {  # measured on 2 CPU cores: exact match 0 -> 1.0 (LLaMA-Factory), 0 -> 0.75+ (Axolotl)
    "llamafactory": {"max_steps": 150, "learning_rate": 3.0e-3},
    "axolotl": {"max_steps": 150, "learning_rate": 3.0e-3},
}
_TRAINED: dict[str, Path] = {}


def _spec(tmp: Path, model: Path, framework: str) -> Path:
    spec = {
        "name": f"eval-{framework}",
        "base_model": str(model),
        "method": "full",
        "data": {"train": [{"path": str(DATA / "colours-train.jsonl"), "format": "alpaca"}]},
        "eval": {"path": str(DATA / "colours-eval.jsonl"), "max_new_tokens": 8},
        "hardware": {"gpu": "CPU"},
        "framework": framework,
        "sequence_len": 128,
        "overrides": {**SETTINGS[framework], "packing": False, "micro_batch_size": 8},
    }
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """framework -> its run folder, trained (and evaluated by `ftgen run`) once per module."""
    from click.testing import CliRunner

    from generator.cli import main

    def get(framework: str) -> Path:
        if framework in _TRAINED:
            return _TRAINED[framework]
        if envs.get_env(framework) is None:
            pytest.skip(f"no {framework} env (run `ftgen env install {framework}`)")
        tmp = tmp_path_factory.mktemp(f"eval-{framework}")
        spec = _spec(tmp, tiny_model, framework)
        result = CliRunner().invoke(main, ["build", str(spec), "--out", str(tmp / "outputs")])
        assert result.exit_code == 0, result.output
        out_dir = tmp / "outputs" / spec.stem
        began = time.monotonic()
        result = CliRunner().invoke(main, ["run", str(out_dir), "--quiet", "--json"])
        run_dir = next(p for p in (out_dir / "runs").iterdir() if p.is_dir())
        log = (run_dir / "train.log").read_text(errors="replace")
        assert result.exit_code == 0, result.output[-3000:] + log[-3000:]
        print(f"{framework}: ftgen run (train + eval) {time.monotonic() - began:.0f} s")
        _TRAINED[framework] = run_dir
        return run_dir

    return get


@pytest.mark.parametrize("framework", ["llamafactory", "axolotl"])
def test_run_scores_base_and_fine_tuned(framework, trained):
    run_dir = trained(framework)
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "succeeded"
    ev = rec["eval"]
    assert "error" not in ev, ev.get("error")
    base, tuned = ev["summary"]["base"], ev["summary"]["fine-tuned"]
    print(f"{framework}: base {base} fine-tuned {tuned} eval {ev['seconds']} s")
    assert set(base) == set(tuned) == {"exact_match", "contains", "token_f1", "rouge_l"}
    assert tuned["exact_match"] >= base["exact_match"] + 0.5, (base, tuned)
    assert tuned["token_f1"] > base["token_f1"]
    assert ev["delta"]["exact_match"] == pytest.approx(tuned["exact_match"] - base["exact_match"], abs=1e-4)
    assert ev["models"]["kind"] == "full" and ev["eval_set"]["rows"] == 16
    for name in ("base", "fine-tuned"):
        rows = [json.loads(line) for line in Path(ev["predictions"][name]).read_text().splitlines()]
        assert len(rows) == 16 and all("prediction" in r and "exact_match" in r for r in rows)
        assert Path(ev["predictions"][name]).parent == run_dir / "eval"
    expected = {
        "llamafactory": "Human: which colour is apple?</s>\nAssistant:",
        # the tiny model has a chat template: Axolotl trains alpaca rows in it (ftgen_sft.alpaca_chat), eval asks so
        "axolotl": "User: which colour is apple?\nAssistant: ",
    }[framework]
    assert ev["prompt_example"].endswith(expected)


@pytest.mark.parametrize("framework", ["llamafactory", "axolotl"])
def test_report_holds_the_numbers(framework, trained, cli):
    run_dir = trained(framework)
    ev = json.loads((run_dir / "run.json").read_text())["eval"]
    result = cli("report", str(run_dir))
    assert result.exit_code == 0, result.output
    md, html = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    base, tuned, delta = ev["summary"]["base"], ev["summary"]["fine-tuned"], ev["delta"]
    row = f"| exact match | {base['exact_match']:.4f} | {tuned['exact_match']:.4f} | {delta['exact_match']:+.4f} |"
    assert row in md
    assert f"{tuned['token_f1']:.4f}" in html and "data:image/png;base64," in html
    assert "![training and eval loss](loss.png)" in md


def test_compare_both_frameworks(trained, cli, tmp_path):
    runs = [trained("llamafactory"), trained("axolotl")]
    result = cli("compare", *map(str, runs), "--out", str(tmp_path / "cmp"))
    assert result.exit_code == 0, result.output
    md = (tmp_path / "cmp" / "compare.md").read_text()
    png = (tmp_path / "cmp" / "compare.png").read_bytes()
    for run_dir in runs:
        ev = json.loads((run_dir / "run.json").read_text())["eval"]
        em, delta = ev["summary"]["fine-tuned"]["exact_match"], ev["delta"]["exact_match"]
        assert f"{em:.4f} ({delta:+.4f})" in md
        assert f"exact_match {em:.4f}".encode() in png
    assert png.startswith(b"\x89PNG")
