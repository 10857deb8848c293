"""`ftgen report` and `ftgen compare` rendered from a fixture run record (tests/evaluate/data/)."""

from __future__ import annotations

import base64
import json
import shutil

import pytest

from generator.evaluate import report
from generator.run import RunRecord


def test_markdown_report_has_the_numbers(finished_run):
    md, html = report.write_report(finished_run)
    assert md == finished_run.dir / "report.md" and html == finished_run.dir / "report.html"
    text = md.read_text()
    assert "| exact match | 0.7500 | 0.5000 | -0.2500 |" in text
    assert "| contains | 0.7500 | 0.7500 | +0.0000 |" in text
    assert "| token F1 | 0.7500 | 0.7000 | -0.0500 |" in text
    assert "| ROUGE-L | 0.7500 | 0.7000 | -0.0500 |" in text
    assert "![training and eval loss](loss.png)" in text
    assert "[base](eval/base.predictions.jsonl)" in text and "[fine-tuned](eval/finetuned.predictions.jsonl)" in text
    assert "LLaMA-Factory template `default`" in text
    assert "skipped: lm_eval not installed in the llamafactory env" in text


def test_worst_regressions_first_and_escaped_in_markdown(finished_run):
    rows = report.regressions(finished_run)
    assert [r["id"] for r in rows] == ["c0", "c3"], "base right, fine-tune wrong; the furthest off (lowest F1) first"
    assert rows[1]["answer"] == "navy / dark blue" and rows[1]["token_f1"] == "0.8000"
    text = report.write_report(finished_run)[0].read_text()
    assert "| c0 | colour of apple? | red | red | &lt;i>blue&lt;/i> \\| x | 0.0000 |" in text, "no raw HTML"
    assert "colour of &lt;b>ink&lt;/b> \\| pen?" in text
    assert "(2 in all)" in text


def test_html_report_escapes_and_embeds_the_curve(finished_run):
    html = report.write_report(finished_run)[1].read_text()
    assert "<td>&lt;i&gt;blue&lt;/i&gt; | x</td>" in html, "predictions are escaped (autoescape on)"
    assert "<i>blue</i>" not in html and "&lt;b&gt;ink&lt;/b&gt;" in html
    start = html.index("data:image/png;base64,") + len("data:image/png;base64,")
    png = base64.b64decode(html[start : html.index('"', start)])
    assert png.startswith(b"\x89PNG") and png == (finished_run.dir / "loss.png").read_bytes()
    for cell in ('<td class="num">0.7500</td>', '<td class="num">0.5000</td>', "-0.2500"):
        assert cell in html


def test_report_to_another_folder_links_relative(finished_run, tmp_path):
    md, _ = report.write_report(finished_run, tmp_path / "reports")
    text = md.read_text()
    assert "](../outputs/colours/runs/20261128-120000-ll-abcd/loss.png)" in text


def test_report_of_an_unevaluated_run(finished_run):
    finished_run.eval = {}
    finished_run.curve = None
    text = report.write_report(finished_run)[0].read_text()
    assert "Not evaluated yet: run `ftgen eval 20261128-120000-ll-abcd`" in text
    assert "No loss curve" in text and "None." in text
    finished_run.eval = {"error": "generation failed"}
    assert "Evaluation failed: generation failed" in report.write_report(finished_run)[0].read_text()


def _second_run(first: RunRecord) -> RunRecord:
    src = first.dir
    dst = src.parent / "20261128-130000-ll-beef"
    shutil.copytree(src, dst)
    data = json.loads((dst / "run.json").read_text())
    data.update(run_id=dst.name, path=str(dst))
    data["eval"]["summary"]["fine-tuned"] = {"exact_match": 1.0, "contains": 1.0, "token_f1": 1.0, "rouge_l": 1.0}
    data["eval"]["delta"] = {"exact_match": 0.25, "contains": 0.25, "token_f1": 0.25, "rouge_l": 0.25}
    (dst / "run.json").write_text(json.dumps(data))
    return RunRecord.load(dst)


def test_compare_writes_table_and_chart(finished_run, tmp_path):
    second = _second_run(finished_run)
    md, png = report.compare([finished_run, second], tmp_path / "cmp")
    text = md.read_text()
    assert "![eval set scores](compare.png)" in text
    assert (
        "| 20261128-120000-ll-abcd | colours | llamafactory | lora | succeeded | 40 | 1.8300 | 0.7500 | "
        "0.5000 (-0.2500) | 0.7500 (+0.0000) | 0.7000 (-0.0500) | 0.7000 (-0.0500) |" in text
    )
    assert "| 1.0000 (+0.2500) |" in text
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 5000
    # the numbers are in the PNG's text chunk too; the base model appears once (both runs share it)
    assert b"exact_match 0.5000" in data and b"exact_match 1.0000" in data
    assert data.count(b"base (tiny-llama)") == 1


def test_cli_report_and_compare(finished_run, tmp_path, cli, monkeypatch):
    second = _second_run(finished_run)
    root = finished_run.dir.parents[2]
    result = cli("report", finished_run.run_id, "--root", str(root))
    assert result.exit_code == 0, result.output
    assert (finished_run.dir / "report.md").is_file() and (finished_run.dir / "report.html").is_file()
    result = cli("compare", finished_run.run_id, str(second.dir), "--root", str(root), "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "compare.png").is_file() and "0.5000 (-0.2500)" in (
        tmp_path / "c" / "compare.md"
    ).read_text()
    result = cli("report", "no-such-run", "--root", str(root))
    assert result.exit_code == 2 and "no such run" in result.output


@pytest.mark.parametrize("name", ["report/report.md.j2", "report/report.html.j2"])
def test_templates_are_strict(name):
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        report._env(name.endswith("html.j2")).get_template(name).render()
