"""Hypothesis strategies for specs, valid and invalid, and the checks every outcome must pass (tests and benchmark)."""

from __future__ import annotations

import datetime
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
TINY_MODEL = REPO / "tests" / "cases" / "good" / "models" / "tiny-llama"

TASK_FORMATS = {
    "sft": ["alpaca", "sharegpt", "messages"],
    "dpo": ["preference"],
    "orpo": ["preference"],
    "kto": ["kto"],
    "pretrain": ["text"],
    "grpo": ["alpaca", "messages", "sharegpt"],
}
ALL_FORMATS = ["alpaca", "sharegpt", "messages", "preference", "kto", "text"]
# local files that really hold rows of that format (absolute paths: the spec may live anywhere)
LOCAL_DATA = {
    "alpaca": [DATA / "colours-train.jsonl", DATA / "support-train.jsonl"],
    "preference": [DATA / "support-prefs.jsonl"],
}

# Strings that mean something to YAML, Jinja, shells or the file system.
HOSTILE = [
    "{{ 7*7 }}",
    "{% raw %}",
    "{#",
    "a: b",
    "key: value\nother: 1",
    "# comment",
    "&anchor",
    "*alias",
    "!!python/object:os.system",
    "!!python/object/apply:os.system ['id']",
    "!tag x",
    "- item",
    "[1, 2]",
    "{a: 1}",
    "'single'",
    '"double"',
    "|",
    ">",
    "%YAML 1.1",
    "---",
    "...",
    "null",
    "~",
    "true",
    "yes",
    "no",
    "on",
    "off",
    "0x1F",
    "0o17",
    "1e3",
    ".inf",
    ".nan",
    "2024-01-01",
    "12:30:00",
    "=",
    "<<",
    "?",
    "@",
    "`cmd`",
    "$(id)",
    "${HOME}",
    "\\",
    "\t",
    "\r\n",
    "\u2028",
    "\u0085",
    "\ufeff",
    "\xa0",
    "a\u3000",
    "\u2003",
    "x\x0b\x0c\x1c",
    "ünïcödé",
    "漢字",
    "🙂",
    "",
    " ",
    " leading",
    "trailing ",
    "a\x00b",
    "\x1b[31m",
    "../../etc",
]


@cache
def catalog_ids() -> list[str]:
    from generator.facts.models import load_catalog

    return sorted(load_catalog())


@cache
def gpu_names() -> list[str]:
    from generator.facts.gpus import load_gpus

    names = []
    for gpu in load_gpus().values():
        names += [gpu.name, *gpu.aliases]
    return sorted(names)


@cache
def override_schema() -> dict:
    from generator.spec import schema

    return schema()["properties"]["overrides"]["properties"]


# ------------------------------------------------------------------ values from a JSON Schema leaf


def from_leaf(leaf: dict) -> st.SearchStrategy:
    """Values valid for one leaf of the spec schema (enums, bounded numbers, patterned strings, lists)."""
    if "enum" in leaf:
        return st.sampled_from(leaf["enum"])
    t = leaf.get("type")
    if t == "boolean":
        return st.booleans()
    if t == "integer":
        lo = leaf.get("minimum", 0)
        hi = leaf.get("maximum", max(lo, 1) * 10_000)
        return st.integers(lo, hi)
    if t == "number":
        lo = leaf.get("minimum", leaf.get("exclusiveMinimum", 0))
        hi = leaf.get("maximum", 1000)
        return st.floats(lo, hi, exclude_min="exclusiveMinimum" in leaf, allow_nan=False, allow_infinity=False)
    if t == "array":
        return st.lists(
            from_leaf(leaf["items"]), min_size=leaf.get("minItems", 0), max_size=min(leaf.get("maxItems", 4), 4)
        )
    if t == "string":
        if "pattern" in leaf:
            return st.from_regex(leaf["pattern"], fullmatch=True).filter(lambda s: len(s) <= leaf.get("maxLength", 64))
        return st.text(max_size=leaf.get("maxLength", 32))
    return st.none()


# ------------------------------------------------------------------ valid specs

names = st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True)
hub_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,12}/[A-Za-z0-9][A-Za-z0-9_.-]{0,12}", fullmatch=True).filter(
    lambda s: not s.lower().endswith((".json", ".jsonl", ".csv", ".parquet"))
)


@st.composite
def train_entries(draw, task: str) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        fmt = draw(st.sampled_from(TASK_FORMATS[task]))
        local = LOCAL_DATA.get(fmt)
        if local and draw(st.booleans()):
            entry = {"path": str(draw(st.sampled_from(local))), "format": fmt}
        else:
            entry = {"path": draw(hub_ids), "format": fmt}
            if draw(st.booleans()):
                entry["split"] = draw(st.sampled_from(["train", "train[:90%]", "validation"]) | st.text(max_size=20))
        out.append(entry)
    return out


@st.composite
def overrides(draw) -> dict:
    props = override_schema()
    keys = draw(st.lists(st.sampled_from(sorted(props)), max_size=6, unique=True))
    return {k: draw(from_leaf(props[k])) for k in keys}


FRAMEWORK_KEYS = {
    "axolotl": {
        "max_grad_norm": st.floats(0.01, 10),
        "lora_r": st.integers(1, 256),
        "special_tokens": st.fixed_dictionaries({"pad_token": st.sampled_from(HOSTILE) | st.text(max_size=8)}),
        "hub_model_id": st.sampled_from(HOSTILE) | st.text(max_size=30),
        "strict": st.booleans(),
    },
    "llamafactory": {
        "max_grad_norm": st.floats(0.01, 10),
        "lora_rank": st.integers(1, 256),
        "run_name": st.sampled_from(HOSTILE) | st.text(max_size=30),
        "ddp_timeout": st.integers(1, 10**6),
    },
}


@st.composite
def framework_overrides(draw) -> dict:
    out = {}
    for fw, keys in FRAMEWORK_KEYS.items():
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(sorted(keys)), max_size=3, unique=True))
            out[fw] = {k: draw(keys[k]) for k in chosen}
    return out


@st.composite
def valid_specs(draw) -> dict:
    """Specs the schema accepts; the rules may still refuse some (too few examples, does not fit, over budget)."""
    task = draw(st.sampled_from(sorted(TASK_FORMATS)))
    local_model = draw(st.integers(0, 9)) == 0
    spec: dict[str, Any] = {
        "name": draw(names),
        "base_model": str(TINY_MODEL) if local_model else draw(st.sampled_from(catalog_ids())),
        "data": {"train": draw(train_entries(task))},
    }
    if task != "sft" or draw(st.booleans()):
        spec["task"] = task
    data = spec["data"]
    if any(not Path(t["path"]).is_absolute() for t in data["train"]) or draw(st.booleans()):
        data["examples"] = draw(st.integers(1000, 2_000_000) | st.integers(1, 10**7))
    for key, strat in (
        ("avg_tokens", st.floats(1, 8192)),
        ("distribution_shift", st.sampled_from(["low", "medium", "high"])),
        ("multi_turn", st.booleans()),
        ("unique_domain", st.booleans()),
    ):
        if draw(st.booleans()):
            data[key] = draw(strat)
    if draw(st.booleans()):
        hw: dict[str, Any] = {}
        if draw(st.booleans()):
            hw["gpu"] = "CPU" if local_model else draw(st.sampled_from(gpu_names()))
        elif draw(st.booleans()):
            hw["vram_gb"] = draw(st.floats(1, 512))
        if draw(st.booleans()):
            hw["gpus_per_node"] = draw(st.sampled_from([1, 2, 4, 8]))
        if draw(st.booleans()):
            hw["nodes"] = draw(st.integers(1, 4))
        spec["hardware"] = hw
    if draw(st.integers(0, 4)) == 0:
        spec["budget"] = {
            k: draw(st.floats(0.1, 10**5))
            for k in draw(st.lists(st.sampled_from(["max_usd", "max_hours"]), max_size=2, unique=True))
        }
    if draw(st.booleans()):
        spec["goals"] = {
            "serve_many_adapters": draw(st.booleans()),
            "priority": draw(st.sampled_from(["cost", "balanced", "quality"])),
        }
    small_local = any(Path(t["path"]).is_absolute() for t in data["train"])  # a few hundred rows: below the 1K gate
    for key, choices in (
        ("framework", ["auto", "axolotl", "llamafactory", "both"]),
        ("method", ["auto", "qlora", "lora", "full"]),
    ):
        if draw(st.booleans()) or (key == "method" and small_local):
            spec[key] = draw(st.sampled_from(choices[1:] if key == "method" and small_local else choices))
    if draw(st.booleans()):
        spec["sequence_len"] = draw(st.sampled_from([128, 512, 2048, 4096, 8192]) | st.integers(16, 65536))
    if draw(st.booleans()):
        spec["seed"] = draw(st.integers(0, 2**32 - 1))
    if draw(st.integers(0, 9)) == 0:
        spec["trust_remote_code"] = draw(st.booleans())
    if draw(st.booleans()):
        spec["overrides"] = draw(overrides())
    if draw(st.integers(0, 3)) == 0:
        spec["framework_overrides"] = draw(framework_overrides())
    if task == "grpo":
        spec["rl"] = {
            "reward_funcs": draw(
                st.lists(
                    st.from_regex(r"[a-z_][a-z0-9_]{0,8}\.[a-z_][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=3
                )
            )
        }
        # installed reward modules (none lies beside the spec): named in allow_imports
        spec["allow_imports"] = sorted({f.rsplit(".", 1)[0] for f in spec["rl"]["reward_funcs"]})
        if draw(st.booleans()):
            spec["rl"]["num_generations"] = draw(st.integers(2, 16))
    if draw(st.integers(0, 5)) == 0:
        spec["eval"] = {"path": str(DATA / "colours-eval.jsonl")}
        if draw(st.booleans()):
            spec["eval"]["max_new_tokens"] = draw(st.integers(1, 512))
    return spec


# ------------------------------------------------------------------ invalid specs

exotic_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.floats(),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not math.isfinite(f)),
    st.text(max_size=20),
    st.sampled_from(HOSTILE),
    st.binary(max_size=8),
    st.dates(),
    st.datetimes(timezones=st.just(datetime.timezone.utc)),
    st.sampled_from(["\ud800", "a\udfffb"]),
)
junk = st.recursive(
    exotic_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.integers(0, 5) | st.none(), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


def _container(root: Any, path: tuple) -> Any:
    for part in path:
        root = root[part]
    return root


@st.composite
def mutated_specs(draw) -> Any:
    """A valid spec with one to three things broken: a value replaced, a key removed, an unknown key added."""
    spec = json.loads(json.dumps(draw(valid_specs())))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(spec) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _container(spec, path[:-1])
        action = draw(st.sampled_from(["replace", "replace", "remove", "add", "hostile"]))
        if action == "replace":
            parent[path[-1]] = draw(junk)
        elif action == "hostile":
            parent[path[-1]] = draw(st.sampled_from(HOSTILE))
        elif action == "remove":
            if isinstance(parent, dict):
                del parent[path[-1]]
            elif len(parent) > 1:
                parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12) | st.sampled_from(["nmae", "data_", "lora_r", "<<", "1"]))] = draw(junk)
    return spec


any_specs = st.one_of(valid_specs(), mutated_specs(), mutated_specs(), junk)


# ------------------------------------------------------------------ what every outcome must satisfy


def problem_faults(problems, data: Any) -> list[str]:
    """What is wrong with a list of Problems: a missing file, or no key path and no line for a mapping spec."""
    faults = []
    for p in problems:
        if not p.file:
            faults.append(f"problem without a file: {p.render()}")
        if not p.key and p.line is None and isinstance(data, dict):
            faults.append(f"problem without a key path or line: {p.render()}")
        if not p.message:
            faults.append(f"problem without a message: {p!r}")
        try:
            p.render()
            json.dumps(p.to_dict())
        except Exception as exc:
            faults.append(f"problem cannot be rendered: {type(exc).__name__}: {exc}")
    return faults


def config_faults(build) -> list[str]:
    """What is wrong with a successful build: a config that does not parse back, tags, anchors, stray files."""
    import yaml

    safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    faults = []
    for r in build.rendered:
        if yaml.load(r.text, Loader=safe) != r.config:
            faults.append(f"{r.framework}: text does not parse back to the config")
        for event in yaml.parse(r.text, Loader=safe):
            if getattr(event, "anchor", None) is not None:
                faults.append(f"{r.framework}: anchor &{event.anchor} in the rendered config")
            if getattr(event, "tag", None) is not None:
                faults.append(f"{r.framework}: explicit tag {event.tag} in the rendered config")
    for name in build.files:
        # a shipped package (ftgen_sft/) is one level of plain names inside the output folder, never out of it
        parts = name.split("/")
        if "\\" in name or len(parts) > 2 or any(not p or p.startswith(".") for p in parts):
            faults.append(f"file name {name!r} is not a plain name")
    try:
        json.loads(build.files["plan.json"])
        for text in build.files.values():
            text.encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        faults.append(f"unwritable output: {exc}")
    return faults


def classify(data: Any, base_dir: Path, out_root: Path) -> tuple[str, list[str], list]:
    """Run from_dict + compile_spec on `data`: ("ok" | "rejected" | "crashed", faults, problems)."""
    from generator.build import compile_spec
    from generator.errors import FtgenError
    from generator.spec import from_dict

    try:
        spec = from_dict(data, "fuzz.yaml", base_dir)
        build = compile_spec(spec, out_root)
    except FtgenError as exc:
        return "rejected", problem_faults(exc.problems, data), exc.problems
    except Exception as exc:
        import traceback

        return "crashed", [f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-4)}"], []
    return "ok", config_faults(build), []
