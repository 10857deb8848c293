"""benchmarks/memory_published.py: the estimate against published MEASURED peaks, compared like with like."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

from generator import memory

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "ftgen_bench_memory_published", ROOT / "benchmarks" / "memory_published.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _load()
DATA = yaml.safe_load(bench.DATA.read_text(encoding="utf-8"))


def test_every_source_names_where_and_every_row_a_measured_statistic():
    assert len(DATA["sources"]) >= 2
    for name, src in DATA["sources"].items():
        assert src["where"].startswith("https://"), name
        for row in src["rows"]:
            assert any(row.get(s) is not None for s in bench.STATISTICS), row["id"]
            merged = {**src.get("common", {}), **row}
            for key in ("precision", "sequence_len", "micro_batch", "gradient_checkpointing", "optimizer", "method"):
                assert key in merged, (row["id"], key)
            if merged["method"] != "full":
                assert "lora_rank" in merged and "lora_dropout" in merged and "lora_targets" in merged, row["id"]


def test_raw_figures_match_the_gib_values():
    for src in DATA["sources"].values():
        for row in src["rows"]:
            raw = row.get("raw") or {}
            if "peak_torch_mem_alloc_in_bytes" in raw:
                assert row["allocated"] == pytest.approx(raw["peak_torch_mem_alloc_in_bytes"] / 2**30, abs=1e-3)
            if "nvidia_mem_reserved_mib" in raw:
                assert row["nvidia_smi"] == pytest.approx(raw["nvidia_mem_reserved_mib"] / 1024, abs=1e-3)


def test_like_with_like():
    card = bench.model_card("mistralai/Mistral-7B-v0.1", DATA["models"])
    setup = memory.TrainSetup("qlora", 2, 1024, quant_bits=4)
    est = memory.estimate(card, setup)
    assert bench.estimate_for("allocated", est, setup) == pytest.approx(est.total_gb - est.components["overhead"])
    assert bench.estimate_for("reserved", est, setup) == pytest.approx(memory.allocator_visible_gb(est, setup))
    assert bench.estimate_for("nvidia_smi", est, setup) == pytest.approx(est.total_gb)


def test_summary_medians_by_source_method_statistic_and_the_band(capsys):
    rows = bench.compare(DATA)
    summary = bench.summarize(rows, DATA)
    assert summary["figures"] == len(rows) >= 50
    assert set(summary["by_source"]) == set(DATA["sources"])
    assert set(summary["by_statistic"]) == {"allocated", "reserved", "nvidia_smi"}
    # the estimator's band is the measured spread (rounded to whole percent)
    for kind in ("one_gpu", "several_gpus"):
        lo, hi = summary[f"band_p10_p90_{kind}"]
        assert memory.ERROR_BANDS[kind] == pytest.approx((lo, hi), abs=0.015), kind
    # the median target holds on these published figures
    assert summary["median_abs_error_pct"] <= bench.MEDIAN_TARGET_PCT
    code = bench.main(["--json"])
    payload = json.loads(capsys.readouterr().out)
    assert payload["summary"]["figures"] == summary["figures"] and code in (0, 1)
