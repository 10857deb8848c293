"""benchmarks/memory_measured.py and generator/_env_scripts/measure_memory.py: the measured ground truth."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from generator.memory import estimate

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "ftgen_bench_memory_measured", ROOT / "benchmarks" / "memory_measured.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _load()


def test_shape_params_match_the_card_the_estimator_reads():
    # hidden 256, 4 layers, 8 heads of 32, 2 kv heads, MLP 688, vocab 8000, untied
    shape = bench.T_A
    attn = 2 * 256 * 256 + 2 * 256 * 64
    by_hand = 4 * (attn + 3 * 256 * 688 + 2 * 256) + 2 * 8000 * 256 + 256
    assert shape.params() == by_hand
    card = shape.card()
    from generator.memory import total_params

    assert total_params(card) == by_hand
    tied = bench.T_C
    assert tied.params() == tied.card().params_b * 1e9 == pytest.approx(total_params(tied.card()))


def test_cases_have_unique_names_and_run_without_gradient_accumulation():
    for cases in (bench.CPU_CASES, bench.gpu_cases()):
        names = [c.name for c in cases]
        assert len(names) == len(set(names))
        assert all(c.setup.gradient_accumulation_steps == 1 for c in cases)
        assert all(c.setup.optimizer != "adamw_torch" for c in cases if c.setup.method == "full")


def test_gpu_cases_use_catalog_shapes():
    from generator.facts.models import load_catalog

    catalog = load_catalog()
    for case in bench.gpu_cases():
        card = catalog[case.shape.name]
        assert (case.shape.hidden, case.shape.layers, case.shape.vocab) == (card.hidden, card.layers, card.vocab)


def test_worker_payload_carries_the_setup():
    case = bench.Case("x", bench.T_A, bench._t("qlora", 2, 256, lora_targets=("q_proj",)))
    payload = case.worker("cpu", "/tmp/w")
    assert payload["method"] == "qlora" and payload["lora_targets"] == ["q_proj"]
    assert payload["model"]["kv_heads"] == 2 and payload["device"] == "cpu" and payload["steps"] == 3
    assert payload["lora_dropout"] == 0.05  # what ftgen ships; the worker used to hard-code 0
    json.dumps(payload)


def test_allocated_part_drops_only_the_overhead():
    case = bench.CPU_CASES[0]
    est = estimate(case.shape.card(), case.setup)
    assert bench.allocated_part(est.components) == pytest.approx(est.total_gb - est.components["overhead"])


def _result(err, total_err=None, error=""):
    r = bench.Result("c", "m", "s", 1.0, 2.0, error=error)
    r.error_pct, r.total_error_pct = err, total_err
    return r


def test_summary_median_and_failures():
    s = bench.summarize([_result(5.0), _result(-20.0), _result(10.0)])
    assert s["median_abs_error_pct"] == 10.0 and s["max_abs_error_pct"] == 20.0 and s["ok"]
    assert not bench.summarize([_result(30.0), _result(-40.0)])["ok"]
    failed = bench.summarize([_result(1.0), _result(None, error="boom")])
    assert failed["failed"] == ["c"] and not failed["ok"]
    assert bench.summarize([_result(1.0, 3.0), _result(2.0, -5.0)])["median_abs_total_error_pct"] == 4.0


def test_cli_lists_cases_and_refuses_unknown(capsys):
    assert bench.main(["--list"]) == 0
    assert "lora-fp32-ac-s512b4" in capsys.readouterr().out
    assert bench.main(["--suite", "gpu", "--list"]) == 0
    assert "8B-qlora-ac-s2048b2" in capsys.readouterr().out
    assert bench.main(["--case", "nope", "--python", sys.executable]) == 2
    assert "unknown case" in capsys.readouterr().err


def test_cli_without_an_env_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FTGEN_HOME", str(tmp_path))
    assert bench.main(["--framework", "axolotl"]) == 2
    assert "ftgen env install axolotl" in capsys.readouterr().err


def test_worker_failure_is_reported_not_raised(tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho nope >&2\nexit 3\n")
    broken.chmod(0o755)
    r = bench.run_case(bench.CPU_CASES[0], str(broken), "cpu", timeout=30)
    assert r.error and r.measured_allocated_gib is None and r.error_pct is None


def test_cpu_peak_reads_the_window(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "measure_memory", ROOT / "generator" / "_env_scripts" / "measure_memory.py"
    )
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    trace = tmp_path / "t.json"

    def mem(ts, total, dev=0):
        return {"name": "[memory]", "ph": "i", "ts": ts, "args": {"Total Allocated": total, "Device Type": dev}}

    trace.write_text(
        json.dumps(
            {
                "traceEvents": [
                    mem(1, 500),
                    {"name": "ftgen::train", "ph": "X", "ts": 10, "dur": 10},
                    mem(12, 300),
                    mem(15, 400),
                    mem(18, 9999, dev=1),
                    mem(30, 200),
                ]
            }
        )
    )
    # (overall peak, peak in the window, window found, allocated when it starts, allocated when it ends)
    assert worker._cpu_peak(trace, "ftgen::train") == (500, 400, True, 500, 400)
    assert worker._cpu_peak(trace, "other")[2] is False


# ----------------------------------------------------------------------------- real measurements


@pytest.fixture(scope="module")
def env_python():
    from generator import envs

    env = envs.get_env("llamafactory") or envs.get_env("axolotl")
    if env is None:
        pytest.skip("no framework env to measure in")
    return str(env.python)


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["lora-fp32-ac-s512b4", "full-fp32-ac", "lora-fp32-noac-eager"])
def test_estimate_within_15_percent_of_the_cpu_allocator_peak(env_python, name):
    """Logits-, optimizer- and attention-score-dominated cases: each fails if the estimator miscounts the
    logits copies (2 instead of 3: -28% on the first), ignores the gradient/loss phases (full) or counts
    Korthikanti's dropout bytes for eager scores (+22% on the last)."""
    case = next(c for c in bench.CPU_CASES if c.name == name)
    r = bench.run_case(case, env_python, "cpu", timeout=600)
    assert not r.error, r.error
    assert r.raw["params"] == case.shape.params() or case.setup.method != "full"
    assert r.raw["steps"] == case.steps and all(math.isfinite(x) for x in r.raw["losses"])
    assert abs(r.error_pct) <= 15.0, (r.measured_allocated_gib, r.est_allocated_gib)
    # the same case with two logits copies would be off by more than the tolerance when logits dominate
    if name == "lora-fp32-ac-s512b4":
        two = r.est_allocated_gib - case.setup.micro_batch_size * case.setup.sequence_len * case.shape.vocab * 4 / 2**30
        assert abs(two - r.measured_allocated_gib) / r.measured_allocated_gib > 0.15
    if name == "full-fp32-ac":
        summed = estimate(case.shape.card(), replace(case.setup, gradient_accumulation_steps=None))
        assert bench.allocated_part(summed.components) > r.est_allocated_gib
