"""evaluate_run with a stand-in for generate.py: predictions files, run.json, the base cache, failures, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from generator import envs
from generator.errors import FtgenError
from generator.evaluate import after_run, cache, evalset, evaluate_run, fine_tuned_weights, harness
from generator.run import RunRecord

REPO = Path(__file__).resolve().parents[2]
EVAL = REPO / "examples" / "data" / "colours-eval.jsonl"
ANSWERS = {json.loads(line)["prompt"]: json.loads(line)["answer"] for line in EVAL.read_text().splitlines()}


@pytest.fixture
def run_record(tmp_path, monkeypatch):
    """A build folder with a plan.json eval set, and a succeeded LLaMA-Factory LoRA run in it."""
    monkeypatch.setenv("FTGEN_HOME", str(tmp_path / "home"))
    build = tmp_path / "outputs" / "colours"
    (build / "data").mkdir(parents=True)
    shutil.copyfile(EVAL, build / "data" / "eval.jsonl")
    (build / "plan.json").write_text(
        json.dumps(
            {
                "name": "colours",
                "method": "lora",
                "framework": ["llamafactory"],
                "eval_set": {
                    "path": "data/eval.jsonl",
                    "sha256": evalset.sha256(EVAL),
                    "rows": 16,
                    "max_new_tokens": 8,
                    "harness_tasks": [],
                },
            }
        )
    )
    base = tmp_path / "base-model"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "llama"}')
    (base / "model.safetensors").write_bytes(b"0" * 10)
    run_dir = build / "runs" / "20261128-120000-ll-0001"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "adapter_config.json").write_text("{}")
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(base),
                "stage": "sft",
                "template": "default",
                "output_dir": str(run_dir / "model"),
            }
        )
    )
    rec = RunRecord(
        run_id=run_dir.name, name="colours", framework="llamafactory", path=str(run_dir), status="succeeded"
    )
    rec.save()
    return rec


@pytest.fixture
def fake_generate(monkeypatch, tmp_path):
    """generate.py's stand-in: the base answers 'grey', the fine-tune the right colour except for 'sea'."""
    calls = []
    env = envs.Env(
        framework="llamafactory",
        version="0.9.5",
        root=tmp_path / "env",
        python=Path("/nonexistent"),
        bin_dir=tmp_path / "env" / "bin",
    )
    monkeypatch.setattr("generator.evaluate.envs.get_env", lambda fw, root=None: env)

    def run_json(python, script, args=(), *, stdin=None, env=None, timeout=None, cwd=None):
        job = json.loads(stdin)
        calls.append(job)
        out = Path(job["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        outputs = {}
        for model in job["models"]:
            lines = []
            for i, row in enumerate(job["rows"]):
                right = ANSWERS[row["prompt"]]
                pred = "grey" if model["name"] == "base" else ("Teal sea" if right == "teal" else right.title())
                lines.append(
                    json.dumps(
                        {"index": i, "prompt_text": f"Human: {row['prompt']}</s>\nAssistant:", "prediction": pred}
                    )
                )
            path = out / f"{model['name']}.generations.jsonl"
            path.write_text("\n".join(lines) + "\n")
            outputs[model["name"]] = str(path)
        return {"outputs": outputs, "device": "cpu", "dtype": "float32", "seconds": 0.1}

    monkeypatch.setattr("generator.evaluate.envs.run_json", run_json)
    return calls


def test_evaluate_run_records_scores_and_predictions(run_record, fake_generate):
    ev = evaluate_run(run_record)
    assert ev["summary"]["base"] == {"exact_match": 0.0, "contains": 0.0, "token_f1": 0.0, "rouge_l": 0.0}
    # 15 of 16 exact; "Teal sea" vs "teal": contains 1, token F1 2/3, ROUGE-L 2/3
    assert ev["summary"]["fine-tuned"] == {
        "exact_match": 0.9375,
        "contains": 1.0,
        "token_f1": round((15 + 2 / 3) / 16, 4),
        "rouge_l": round((15 + 2 / 3) / 16, 4),
    }
    assert ev["delta"]["exact_match"] == 0.9375
    assert ev["cached_base"] is False and ev["regressions"] == 0
    assert ev["prompt_format"] == {"kind": "llamafactory", "template": "default"}
    assert ev["models"]["kind"] == "adapter" and ev["eval_set"]["changed_since_build"] is False
    stored = json.loads((run_record.dir / "run.json").read_text())["eval"]
    assert stored["summary"] == ev["summary"]
    preds = [
        json.loads(line) for line in (run_record.dir / "eval" / "finetuned.predictions.jsonl").read_text().splitlines()
    ]
    assert len(preds) == 16 and preds[7]["id"] == "c7" and preds[7]["prediction"] == "Teal sea"
    assert preds[7]["token_f1"] == pytest.approx(0.6667) and preds[0]["answers"] == ["red"]
    assert (run_record.dir / "eval" / "base.predictions.jsonl").is_file()
    assert not (run_record.dir / "eval" / ".generations").exists()
    job = fake_generate[0]
    assert [m["name"] for m in job["models"]] == ["base", "fine-tuned"]
    assert job["models"][1]["adapter"] == str(run_record.dir / "model") and job["max_new_tokens"] == 8
    assert job["rows"][0] == {"prompt": "which colour is apple?"}


def test_base_scores_are_cached_per_model_and_eval_set(run_record, fake_generate):
    evaluate_run(run_record)
    ev = evaluate_run(run_record)
    assert ev["cached_base"] is True and [m["name"] for m in fake_generate[1]["models"]] == ["fine-tuned"]
    assert ev["summary"]["base"]["exact_match"] == 0.0
    assert list(cache.cache_root().glob("*.json")), "the cache lives under $FTGEN_HOME/eval-cache"
    eval_file = run_record.dir.parents[1] / "data" / "eval.jsonl"
    eval_file.write_text(eval_file.read_text() + '{"id": "c16", "prompt": "which colour is sky?", "answer": "blue"}\n')
    ev = evaluate_run(run_record)
    assert ev["cached_base"] is False and ev["eval_set"]["changed_since_build"] is True
    assert ev["eval_set"]["rows"] == 17


def test_model_identity_tracks_local_weights(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"1")
    first = cache.model_identity(str(model))
    assert first.startswith("local:") and cache.model_identity(str(model)) == first
    (model / "model.safetensors").write_bytes(b"22")
    assert cache.model_identity(str(model)) != first
    assert cache.model_identity("Qwen/Qwen2.5-0.5B") == "hub:Qwen/Qwen2.5-0.5B"


def test_fine_tuned_weights(run_record):
    assert fine_tuned_weights(run_record) == (run_record.dir / "model", "adapter")
    (run_record.dir / "model" / "adapter_config.json").unlink()
    with pytest.raises(FtgenError, match="no trained weights"):
        fine_tuned_weights(run_record)
    ckpt = run_record.dir / "model" / "checkpoint-8"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"1")
    run_record.checkpoints = [{"path": str(ckpt), "step": 8}]
    assert fine_tuned_weights(run_record) == (ckpt, "full")


def test_bad_eval_rows_name_file_line_and_field(run_record, fake_generate):
    eval_file = run_record.dir.parents[1] / "data" / "eval.jsonl"
    eval_file.write_text('{"prompt": "a", "answer": "b"}\n{"prompt": "c"}\nnot json\n')
    with pytest.raises(FtgenError) as info:
        evaluate_run(run_record)
    found = [(p.file, p.line, p.key) for p in info.value.problems]
    assert (str(eval_file), 2, "answer") in found and (str(eval_file), 3, "") in found
    eval_file.unlink()
    with pytest.raises(FtgenError) as info:
        evaluate_run(run_record)
    assert info.value.problems[0].key == "eval_set.path" and info.value.problems[0].message == "file not found"
    assert not fake_generate, "nothing is generated for an invalid eval set"


def test_after_run_keeps_the_run_when_eval_fails(run_record, monkeypatch):
    def broken(*a, **k):
        raise envs.ScriptError("generate.py failed with exit code 1: CUDA out of memory")

    monkeypatch.setattr("generator.evaluate.envs.run_json", broken)
    monkeypatch.setattr(
        "generator.evaluate.envs.get_env",
        lambda fw, root=None: envs.Env(
            framework=fw, version="x", root=Path("/x"), python=Path("/x/python"), bin_dir=Path("/x")
        ),
    )
    lines = []
    plan = json.loads((run_record.dir.parents[1] / "plan.json").read_text())
    after_run(run_record, plan, on_line=lambda text, bar: lines.append(text))
    saved = json.loads((run_record.dir / "run.json").read_text())
    assert saved["status"] == "succeeded" and "CUDA out of memory" in saved["eval"]["error"]
    assert any(line.startswith("eval failed") for line in lines)


def test_after_run_skips_failed_runs_and_builds_without_eval_set(run_record, fake_generate):
    after_run(run_record, {"eval_set": None})
    run_record.status = "failed"
    after_run(run_record, {"eval_set": {"path": "x"}})
    assert not fake_generate and run_record.eval == {}


def test_harness_is_skipped_without_lm_eval(run_record, fake_generate, monkeypatch):
    plan_path = run_record.dir.parents[1] / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["eval_set"]["harness_tasks"] = ["arc_easy", "hellaswag"]
    plan_path.write_text(json.dumps(plan))
    monkeypatch.setattr(harness, "has_lm_eval", lambda env: False)
    ev = evaluate_run(run_record)
    assert ev["harness"] == {
        "status": "skipped: lm_eval not installed in the llamafactory env",
        "tasks": ["arc_easy", "hellaswag"],
    }


def test_harness_command_and_results(tmp_path):
    env = envs.Env(
        framework="axolotl", version="0.19.0", root=tmp_path, python=Path("/env/bin/python"), bin_dir=Path("/env/bin")
    )
    cmd = harness.command(env, ["arc_easy"], "/base", "/run/model", tmp_path / "h")
    assert cmd[:3] == ["/env/bin/python", "-m", "lm_eval"]
    assert cmd[cmd.index("--model_args") + 1] == "pretrained=/base,peft=/run/model"
    assert cmd[cmd.index("--device") + 1] == "cpu"
    out = tmp_path / "h" / "base"
    out.mkdir(parents=True)
    (out / "results_2026.json").write_text(
        json.dumps({"results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.25, "acc_stderr,none": 0.01}}})
    )
    assert harness.parse_results(tmp_path / "h") == {"arc_easy": {"acc,none": 0.25, "acc_stderr,none": 0.01}}
    assert harness.run(env, [], {}, tmp_path) == {}


def test_cli_eval(run_record, fake_generate, cli):
    root = run_record.dir.parents[2]
    result = cli("eval", run_record.run_id, "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "exact match" in result.output and "0.9375" in result.output and "+0.9375" in result.output
    result = cli("eval", run_record.run_id, "--root", str(root), "--json")
    assert json.loads(result.output)["cached_base"] is True


def test_cli_run_no_eval_passes_the_flag(monkeypatch, cli, tmp_path):
    seen = {}

    def fake_start(build_dir, framework, **kw):
        seen.update(kw)
        raise FtgenError([])

    monkeypatch.setattr("generator.run.start", fake_start)
    (tmp_path / "plan.json").write_text(json.dumps({"facts": {"eval": {"path": "x"}}}))
    cli("run", str(tmp_path), "--no-eval")
    assert seen["evaluate"] is False
    cli("run", str(tmp_path))
    assert seen["evaluate"] is True


def test_eval_set_with_a_byte_order_mark_loads(tmp_path):
    """A .jsonl saved by an editor that writes a BOM passes the build's check and loads for scoring."""
    path = tmp_path / "eval.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "prompt": "2+2?", "answer": "4"}\n')
    rows = evalset.load(path)
    assert [(r["id"], r["prompt"]) for r in rows] == [("a", "2+2?")]
    assert evalset.sha256(path) == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_eval_set_under_proc_is_refused(tmp_path):
    link = tmp_path / "eval.jsonl"
    link.symlink_to("/proc/self/environ")
    with pytest.raises(FtgenError) as err:
        evalset.load(link)
    assert "refusing to read a file under /proc" in err.value.render()
