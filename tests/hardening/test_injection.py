"""Hostile strings (YAML/Jinja metacharacters, newlines, tags, anchors) reach configs as exactly the intended values."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from _hardening_strategies import DATA, HOSTILE, TINY_MODEL  # tests/hardening (on sys.path under pytest)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.build import build_file
from generator.errors import FtgenError

ROUND_TRIP = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# things a file or folder name can hold (no "/" or NUL; not "." or "..")
FILE_NAMES = sorted({h.replace("/", "_").replace("\x00", "_") for h in HOSTILE} - {"", ".", ".."})


def _write_spec(folder: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = folder / name
    # ASCII escapes: PyYAML would write U+0085/U+2028 raw, and read them back as line breaks
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=False), encoding="utf-8")
    return path


def _base(**extra) -> dict:
    spec = {
        "name": "hostile",
        "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
        "data": {"train": [{"path": "org/ds", "format": "alpaca"}], "examples": 5000},
        "hardware": {"gpu": "A100-80GB"},
        "framework": "both",
    }
    spec.update(extra)
    return spec


def _clean_events(text: str) -> None:
    """No anchors, aliases or explicit tags anywhere in a rendered config."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        assert isinstance(event, yaml.AliasEvent) is False, event
        assert getattr(event, "anchor", None) is None, event
        assert getattr(event, "tag", None) is None, event


def _configs(build) -> dict[str, dict]:
    """Each rendered config, parsed as its framework parses it (Axolotl: PyYAML; LLaMA-Factory: OmegaConf floats)."""
    from generator._yaml import OmegaConfLoader as _OmegaConfLikeLoader

    out = {}
    for r in build.rendered:
        _clean_events(r.text)
        parsed = yaml.safe_load(r.text)
        assert parsed == r.config
        if r.framework == "llamafactory":
            assert yaml.load(r.text, Loader=_OmegaConfLikeLoader) == parsed
        out[r.framework] = parsed
    return out


def _lf_ok(value: str) -> bool:
    """Text LLaMA-Factory can be given: OmegaConf reads `${` as an interpolation (ftgen refuses it)."""
    return "${" not in value


def _check_overrides(tmp: Path, value: str) -> None:
    key = value if value else "empty"
    spec = _base(
        framework_overrides={
            "axolotl": {"hub_model_id": value, "wandb_name": value, "model_config": {key: value, "nested": [value]}},
            "llamafactory": {"run_name": value, "default_system": value},
        }
    )
    if not _lf_ok(value):
        with pytest.raises(FtgenError) as exc:
            build_file(_write_spec(tmp, spec), tmp / "outputs")
        assert sorted(p.key for p in exc.value.problems) == [
            "framework_overrides.llamafactory.default_system",
            "framework_overrides.llamafactory.run_name",
        ]
        spec["framework_overrides"]["llamafactory"] = {"run_name": "x", "default_system": "x"}
    b = build_file(_write_spec(tmp, spec), tmp / "outputs")
    cfg = _configs(b)
    assert cfg["axolotl"]["hub_model_id"] == value and cfg["axolotl"]["wandb_name"] == value
    assert cfg["axolotl"]["model_config"] == {key: value, "nested": [value]}
    if _lf_ok(value):
        assert cfg["llamafactory"]["run_name"] == value and cfg["llamafactory"]["default_system"] == value
    # nothing else changed: the keys the rules wrote are all there, with the values the plan says
    assert cfg["axolotl"]["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert cfg["llamafactory"]["model_name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"


def test_every_hostile_string_round_trips_as_keys_and_values(tmp_path):
    """All of HOSTILE in one build: as mapping keys, list items, and values of both frameworks' free-text keys."""
    mapping = {(h or "empty"): h for h in HOSTILE}
    spec = _base(
        framework_overrides={
            "axolotl": {"model_config": mapping, "tokens": list(HOSTILE), "hub_model_id": "\n".join(HOSTILE)},
            "llamafactory": {
                "run_name": "\n".join(filter(_lf_ok, HOSTILE)),
                "default_system": "".join(filter(_lf_ok, HOSTILE)),
            },
        }
    )
    b = build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
    cfg = _configs(b)
    assert cfg["axolotl"]["model_config"] == mapping
    assert cfg["axolotl"]["tokens"] == HOSTILE
    assert cfg["axolotl"]["hub_model_id"] == "\n".join(HOSTILE)
    assert cfg["llamafactory"]["run_name"] == "\n".join(filter(_lf_ok, HOSTILE))
    assert cfg["llamafactory"]["default_system"] == "".join(filter(_lf_ok, HOSTILE))


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7*7 }}",
        "a: b\nc: d",
        "!!python/object:os.system",
        "&a",
        "\u2028",
        "\x85",
        "1e3",
        "+1E-5",
        "1_000.5",
        "1:30.5",
        "0x1F",
        "${HOME}",
        "${oc.env:HF_TOKEN}",
        "${x",
    ],
    ids=repr,
)
def test_framework_override_values_round_trip(tmp_path, value):
    _check_overrides(tmp_path, value)


@settings(ROUND_TRIP, max_examples=30)
@given(st.text(max_size=40))
def test_any_text_round_trips_through_overrides(tmp_path, value):
    _check_overrides(tmp_path, value)


def test_hub_splits_round_trip(tmp_path):
    hub = "yes/no.true-null_1e3"
    splits = [h for h in HOSTILE if len(h) <= 64][:64]
    spec = _base(data={"train": [{"path": hub, "format": "alpaca", "split": v} for v in splits], "examples": 5000})
    b = build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
    cfg = _configs(b)
    datasets = cfg["axolotl"]["datasets"]
    assert [(d["path"], d["split"]) for d in datasets] == [(hub, v) for v in splits]
    assert len({d["type"] for d in datasets}) == 1  # one prompt format (FT107), whatever the model's template
    info = json.loads(b.files["dataset_info.json"])
    assert [(e["hf_hub_url"], e.get("split", "train")) for e in info.values()] == [(hub, v) for v in splits]


@pytest.mark.parametrize("hub", ["on/off", "null/true", "0x1F/1e3", "Yes/No", "a_ö/bß", "a.-_/b.-_"])
def test_hub_ids_that_look_like_yaml_scalars(tmp_path, hub):
    spec = _base(data={"train": [{"path": hub, "format": "alpaca"}], "examples": 5000})
    b = build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
    assert _configs(b)["axolotl"]["datasets"][0]["path"] == hub
    assert json.loads(b.files["dataset_info.json"])["train_0"]["hf_hub_url"] == hub


def test_local_data_files_with_hostile_names(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    targets = []
    for stem in FILE_NAMES[:64]:
        targets.append(data_dir / f"{stem}.jsonl")
        shutil.copyfile(DATA / "colours-train.jsonl", targets[-1])
    spec = _base(method="lora", data={"train": [{"path": f"data/{t.name}", "format": "alpaca"} for t in targets]})
    b = build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
    expected = [Path(os.path.relpath(t, b.out_dir)).as_posix() for t in targets]
    cfg = _configs(b)
    assert [d["path"] for d in cfg["axolotl"]["datasets"]] == expected
    assert [e["file_name"] for e in json.loads(b.files["dataset_info.json"]).values()] == expected
    assert [(b.out_dir / e).resolve() for e in expected] == [t.resolve() for t in targets]
    # sky.yaml uploads them: a name no YAML line can carry goes up with its folder
    mounts = yaml.safe_load(b.files["sky.yaml"])["file_mounts"]
    assert "../../data" in mounts.values(), mounts


@pytest.mark.parametrize("stem", FILE_NAMES, ids=repr)
def test_local_model_folders_with_hostile_names(tmp_path, stem):
    model = tmp_path / "models" / stem
    model.mkdir(parents=True)
    shutil.copyfile(TINY_MODEL / "config.json", model / "config.json")
    spec = _base(base_model=f"models/{stem}", hardware={"gpu": "CPU"}, sequence_len=128)
    if not _lf_ok(stem):
        with pytest.raises(FtgenError) as exc:
            build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
        assert [p.key for p in exc.value.problems] == ["base_model"]
        spec["framework"] = "axolotl"
    b = build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
    expected = Path(os.path.relpath(model, b.out_dir)).as_posix()
    cfg = _configs(b)
    assert cfg["axolotl"]["base_model"] == expected
    if _lf_ok(stem):
        assert cfg["llamafactory"]["model_name_or_path"] == expected


def test_llamafactory_itself_reads_what_was_meant(tmp_path):
    """The generated LLaMA-Factory config read by OmegaConf, in the framework's own env, as its CLI reads it."""
    import subprocess

    from generator import envs

    env = envs.get_env("llamafactory")
    if env is None:
        pytest.skip("no llamafactory env (ftgen env install llamafactory)")
    values = [h for h in HOSTILE if _lf_ok(h)] + ["1e3", "+1E-5", "1:30.5", "0x1F", "1_000.5", "yes", "~"]
    spec = _base(
        framework="llamafactory",
        framework_overrides={"llamafactory": {"run_name": "\n".join(values), "default_system": values[0]}},
    )
    b = build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
    path = tmp_path / "llamafactory.yaml"
    path.write_text(b.files["llamafactory.yaml"], encoding="utf-8")
    script = (
        "import json, sys; from omegaconf import OmegaConf; "
        "c = OmegaConf.to_container(OmegaConf.merge(OmegaConf.load(sys.argv[1]), OmegaConf.from_cli([]))); "
        "print(json.dumps(c))"
    )
    out = subprocess.run(
        [str(env.python), "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout) == json.loads(json.dumps(b.rendered[0].config))


@pytest.mark.parametrize(
    "funcs",
    [
        ["yes", "no", "on", "off"],
        ["null", "true", "False", "y", "n"],
        ["nan", "inf", "e1", "_1"],
        ["rewards.exact_match", "a.b.c"],
    ],
)
def test_reward_funcs_that_look_like_yaml_keywords(tmp_path, funcs):
    spec = _base(task="grpo", framework="axolotl", rl={"reward_funcs": funcs})
    dotted = sorted({f.rsplit(".", 1)[0] for f in funcs if "." in f})
    if dotted:  # installed reward modules (none lies beside the spec): named in allow_imports
        spec["allow_imports"] = dotted
    b = build_file(_write_spec(tmp_path, spec), tmp_path / "outputs")
    assert _configs(b)["axolotl"]["trl"]["reward_funcs"] == funcs


def test_hostile_spec_file_name_stays_in_a_comment(tmp_path):
    name = "evil\nbase_model: hacked #{{ x }} &a !!python.yaml"
    b = build_file(_write_spec(tmp_path, _base(), name), tmp_path / "outputs")
    cfg = _configs(b)
    assert cfg["axolotl"]["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    header = b.files["axolotl.yaml"].splitlines()[0]
    assert header.startswith("# ") and "evil base_model: hacked" in header


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "..",
        "a/../../b",
        "/etc/cron.d/x",
        "x/y",
        "./x",
        "Evil",
        "-x",
        "x\n",
        "x" * 65,
        "",
        "x:y",
        "x\\..\\y",
        ".hidden",
        "x y",
    ],
)
def test_names_that_could_leave_the_output_folder_are_refused(tmp_path, cli, name):
    spec = _write_spec(tmp_path, _base(name=name))
    with pytest.raises(FtgenError) as exc:
        build_file(spec, tmp_path / "outputs")
    assert [p.key for p in exc.value.problems] == ["name"]
    before = sorted(p for p in tmp_path.parent.rglob("*"))
    result = cli("build", str(spec), "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 2 and "name" in result.output
    assert sorted(p for p in tmp_path.parent.rglob("*")) == before, "a refused build wrote something"


def test_whole_documents_dumped_for_rewrites_read_back_the_same():
    """yaml_document (for configs ftgen rewrites, like a run's config.yaml) keeps every value under both readers."""
    from generator._yaml import OmegaConfLoader as _OmegaConfLikeLoader
    from generator.render._yamlsafe import yaml_document

    data = {
        "run_name": "1e3",
        "other": "+1E-5",
        "sexagesimal": "1:30.5",
        "lf": "\u2028x\x85",
        "list": list(HOSTILE),
        "nested": {h or "empty": [h] for h in HOSTILE},
        "lr": 1e-5,
        "steps": 10,
    }
    text = yaml_document(data)
    _clean_events(text)
    assert yaml.safe_load(text) == data
    assert yaml.load(text, Loader=_OmegaConfLikeLoader) == data
    assert yaml.safe_dump(data)  # PyYAML's own dump, for contrast: it writes 1e3 bare, which OmegaConf reads as 1000.0
    assert yaml.load(yaml.safe_dump({"run_name": "1e3"}), Loader=_OmegaConfLikeLoader) == {"run_name": 1000.0}
