"""Extract version facts for `ftgen lint` from the frameworks' own source into generator/lint/_data/facts.json.

What it reads (never imports: the sources are parsed with `ast`, so no framework dependency is needed):
  - the pinned Axolotl's deprecated parameters (axolotl/utils/schemas/deprecated.py: which raise,
    which only warn, on what condition, with what message);
  - older releases of both frameworks, as published on PyPI (sdists or wheels fetched with
    `pip download --no-deps`): the config keys each release accepted, so that a key unknown to the
    pinned version can be reported as "belongs to Axolotl 0.12.2, not 0.19.0".

Usage (network needed only with --download):
    python scripts/extract_lint_facts.py --download /tmp/fw-releases \
        --axolotl-site /path/to/axolotl-0.19.0/site-packages
Then review the diff of generator/lint/_data/facts.json like any code change.
Facts about versions newer than the pins (not on the index this project can reach) are hand-curated,
each with its source, in generator/lint/_data/curated.yaml.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "generator" / "lint" / "_data" / "facts.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator import frameworks  # noqa: E402

AXOLOTL_RELEASES = ("0.5.2", "0.6.0", "0.8.1", "0.9.2", "0.10.0", "0.12.2", "0.13.2", "0.14.0", "0.16.1", "0.18.0")
LLAMAFACTORY_RELEASES = ("0.8.3", "0.9.0", "0.9.1", "0.9.2", "0.9.3", "0.9.4")
PINNED = {fw.name: fw.version for fw in frameworks.all_frameworks()}  # the pins live in generator/frameworks/

_AX_DATASET_MODELS = ("SFTDataset", "DPODataset", "KTODataset", "StepwiseSupervisedDataset", "PretrainingDataset")
_LF_ARG_CLASSES = ("ModelArguments", "DataArguments", "TrainingArguments", "FinetuningArguments", "GeneratingArguments")


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


# ---------------------------------------------------------------------------------------------- release files


def download(dist: str, versions: tuple[str, ...], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for v in versions:
        if list(dest.glob(f"{dist}-{v}[.-]*")):
            continue
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), f"{dist}=={v}"], check=True
        )


def _archive_sources(path: Path, prefix: str) -> dict[str, str]:
    """{relative path below the package: source} for the .py files of `prefix` in an sdist or wheel."""
    out: dict[str, str] = {}
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith(".py") and f"{prefix}/" in name:
                    out[name[name.index(prefix) :]] = z.read(name).decode("utf-8", "replace")
    else:
        with tarfile.open(path) as t:
            for m in t.getmembers():
                if m.isfile() and m.name.endswith(".py") and f"/{prefix}/" in m.name:
                    f = t.extractfile(m)
                    if f is not None:
                        out[m.name[m.name.index(prefix) :]] = f.read().decode("utf-8", "replace")
    return out


def _release_file(dest: Path, dist: str, version: str) -> Path:
    found = sorted(p for p in dest.iterdir() if re.match(rf"{dist}-{re.escape(version)}([.-]|\.tar)", p.name))
    if not found:
        raise SystemExit(f"{dist} {version} not in {dest}; run with --download")
    return found[0]


# ---------------------------------------------------------------------------------------------- class fields


class _Classes:
    """Every class in a set of modules: its base names, its annotated fields and their aliases."""

    def __init__(self, sources: dict[str, str]):
        self.bases: dict[str, list[str]] = {}
        self.fields: dict[str, dict[str, str]] = {}  # class -> {key as written in a config: annotation}
        self.where: dict[str, str] = {}
        for rel, text in sources.items():
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    self.bases[node.name] = [ast.unparse(b).split(".")[-1] for b in node.bases]
                    self.fields[node.name] = _class_fields(node)
                    self.where[node.name] = rel

    def all_fields(self, name: str, seen: set[str] | None = None) -> dict[str, str]:
        seen = seen or set()
        if name in seen or name not in self.fields:
            return {}
        seen.add(name)
        out: dict[str, str] = {}
        for base in self.bases.get(name, []):
            out.update(self.all_fields(base, seen))
        out.update(self.fields[name])
        return out


def _class_fields(node: ast.ClassDef) -> dict[str, str]:
    out: dict[str, str] = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        name = stmt.target.id
        annotation = ast.unparse(stmt.annotation)
        if name == "model_config" or annotation.startswith("ClassVar"):
            continue
        names = [name]
        value = stmt.value
        if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] in ("Field", "field"):
            for kw in value.keywords:
                if kw.arg == "init" and isinstance(kw.value, ast.Constant) and kw.value.value is False:
                    names = []
                if kw.arg == "alias" and isinstance(kw.value, ast.Constant):
                    names.append(kw.value.value)
                if kw.arg == "validation_alias":
                    names += [
                        a.value for a in ast.walk(kw.value) if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    ]
        for n in names:
            out[n] = annotation
    return out


def axolotl_keys(sources: dict[str, str]) -> dict[str, set[str] | bool]:
    """Top-level keys, dataset-entry keys and fsdp_config keys (True: a free mapping) of one Axolotl release."""
    cls = _Classes({k: v for k, v in sources.items() if "/utils/" in k})
    top = cls.all_fields("AxolotlInputConfig")
    datasets: set[str] = set()
    for model in _AX_DATASET_MODELS:
        datasets |= set(cls.all_fields(model))
    fsdp_annotation = top.get("fsdp_config", "")
    fsdp: set[str] | bool = (
        True if re.search(r"\b(dict|Dict)\b", fsdp_annotation) else set(cls.all_fields("FSDPConfig"))
    )
    return {
        "top": set(top),
        "datasets[]": datasets,
        "fsdp_config": fsdp,
        "where": cls.where.get("AxolotlInputConfig", "?"),
    }


def llamafactory_keys(sources: dict[str, str]) -> dict[str, set[str]]:
    cls = _Classes({k: v for k, v in sources.items() if "/hparams/" in k})
    top: set[str] = set()
    for name in _LF_ARG_CLASSES:
        top |= set(cls.all_fields(name))
    return {"top": top}


# ---------------------------------------------------------------------------------------------- deprecations


def _condition(test: ast.expr, field: str) -> str | None:
    """'set' for `x is not None`, 'truthy' for `if x:`."""
    text = ast.unparse(test)
    if text == field:
        return "truthy"
    if text == f"{field} is not None":
        return "set"
    return None


def axolotl_deprecated(site: Path) -> dict[str, dict]:
    """DeprecatedParameters of the pinned Axolotl: raise (the config is refused) or warn, when, and why."""
    rel = "axolotl/utils/schemas/deprecated.py"
    path = site / rel
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: dict[str, dict] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == "DeprecatedParameters"):
            continue
        for fn in node.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            target = None
            for dec in fn.decorator_list:
                if isinstance(dec, ast.Call) and ast.unparse(dec.func) == "field_validator" and dec.args:
                    target = dec.args[0].value
            if target is None:
                continue
            for stmt in ast.walk(fn):
                if not isinstance(stmt, ast.If):
                    continue
                when = _condition(stmt.test, target)
                for inner in stmt.body:
                    action, message = None, None
                    if isinstance(inner, ast.Raise) and isinstance(inner.exc, ast.Call):
                        action, message = "raise", _joined(inner.exc.args[0]) if inner.exc.args else ""
                    elif (
                        isinstance(inner, ast.Expr)
                        and isinstance(inner.value, ast.Call)
                        and ast.unparse(inner.value.func).endswith("warning")
                    ):
                        action, message = "warn", _joined(inner.value.args[0]) if inner.value.args else ""
                    if action:
                        m = re.search(r"use `?([a-z_][a-z0-9_]*)`?", message or "")
                        out[target] = {
                            "action": action,
                            "when": when or "set",
                            "message": message,
                            "replacement": m.group(1) if m else None,
                            "source": f"axolotl {PINNED['axolotl']} {rel}:{inner.lineno}",
                        }
    # Field(deprecated="...") on config fields: pydantic warns when they are used
    schemas = site / "axolotl/utils/schemas"
    for path in sorted(schemas.glob("*.py")):
        rel_f = f"axolotl/utils/schemas/{path.name}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(node.value, ast.Call)
            ):
                continue
            for kw in node.value.keywords:
                if kw.arg == "deprecated" and not isinstance(kw.value, ast.Constant) or kw.arg != "deprecated":
                    continue
                message = str(kw.value.value)
                m = re.search(r"[Uu]se `([a-z_][a-z0-9_.]*)(?::[^`]*)?`", message)
                out.setdefault(
                    node.target.id,
                    {
                        "action": "warn",
                        "when": "set",
                        "message": message.strip(),
                        "replacement": m.group(1) if m else None,
                        "source": f"axolotl {PINNED['axolotl']} {rel_f}:{kw.value.lineno}",
                    },
                )
    return dict(sorted(out.items()))


def _joined(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{...}" for v in node.values)
    if isinstance(node, ast.BinOp):
        return _joined(node.left) + _joined(node.right)
    return ast.unparse(node)


# ---------------------------------------------------------------------------------------------- removed keys


def removed_keys(per_version: dict[str, set[str]], pinned: set[str], where: dict[str, str], dist: str) -> dict:
    """Keys some release accepted and the pinned one does not: the releases that had them, and where."""
    out: dict[str, dict] = {}
    for version in sorted(per_version, key=_vkey):
        for key in per_version[version] - pinned:
            entry = out.setdefault(key, {"versions": []})
            entry["versions"].append(version)
    for entry in out.values():
        last = entry["versions"][-1]
        entry["first"] = entry["versions"][0]
        entry["last"] = last
        entry["source"] = f"{dist}=={last} (PyPI) {where.get(last, '')}".strip()
        del entry["versions"]
    return dict(sorted(out.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=Path, default=Path("/tmp/fw-releases"), help="folder of release files")
    ap.add_argument("--download", action="store_true", help="fetch missing releases with pip download --no-deps")
    ap.add_argument("--axolotl-site", type=Path, required=True, help="site-packages of the pinned Axolotl")
    args = ap.parse_args()
    if args.download:
        download("axolotl", AXOLOTL_RELEASES, args.releases)
        download("llamafactory", LLAMAFACTORY_RELEASES, args.releases)

    schemas = ROOT / "schemas"
    ax_schema = json.loads((schemas / f"axolotl-{PINNED['axolotl']}.schema.json").read_text())
    lf_schema = json.loads((schemas / f"llamafactory-{PINNED['llamafactory']}.schema.json").read_text())
    ax_top = set(ax_schema["properties"])
    ax_ds: set[str] = set()
    for name in _AX_DATASET_MODELS + ("SyntheticDataset",):
        ax_ds |= set(ax_schema["$defs"].get(name, {}).get("properties", {}))
    ax_fsdp = set(ax_schema["$defs"]["FSDPConfig"]["properties"])

    per: dict[str, dict[str, set[str]]] = {"top": {}, "datasets[]": {}, "fsdp_config": {}}
    free_fsdp: list[str] = []
    where: dict[str, str] = {}
    for v in AXOLOTL_RELEASES:
        keys = axolotl_keys(_archive_sources(_release_file(args.releases, "axolotl", v), "axolotl"))
        where[v] = keys["where"]
        per["top"][v] = keys["top"]
        per["datasets[]"][v] = keys["datasets[]"]
        if keys["fsdp_config"] is True:
            free_fsdp.append(v)
        else:
            per["fsdp_config"][v] = keys["fsdp_config"]
    ax_removed = {
        "top": removed_keys(per["top"], ax_top, where, "axolotl"),
        "datasets[]": removed_keys(per["datasets[]"], ax_ds, where, "axolotl"),
        "fsdp_config": removed_keys(per["fsdp_config"], ax_fsdp, where, "axolotl"),
    }
    lf_per: dict[str, set[str]] = {}
    for v in LLAMAFACTORY_RELEASES:
        lf_per[v] = llamafactory_keys(
            _archive_sources(_release_file(args.releases, "llamafactory", v), "llamafactory")
        )["top"]
    lf_removed = removed_keys(
        lf_per, set(lf_schema["properties"]), {v: "llamafactory/hparams/*_args.py" for v in lf_per}, "llamafactory"
    )
    last_free = max(free_fsdp, key=_vkey) if free_fsdp else None
    facts = {
        "generated_by": "scripts/extract_lint_facts.py",
        "axolotl": {
            "pinned": PINNED["axolotl"],
            "releases_read": list(AXOLOTL_RELEASES),
            "deprecated": axolotl_deprecated(args.axolotl_site),
            "removed": ax_removed,
            "free_mappings": (
                {
                    "fsdp_config": {
                        "first": min(free_fsdp, key=_vkey),
                        "last": last_free,
                        "source": f"axolotl=={last_free} (PyPI) {where[last_free]}: fsdp_config: dict[str, Any] "
                        "(a free mapping handed to accelerate; FSDPConfig from the next release)",
                    }
                }
                if last_free
                else {}
            ),
        },
        "llamafactory": {
            "pinned": PINNED["llamafactory"],
            "releases_read": list(LLAMAFACTORY_RELEASES),
            "removed": {"top": lf_removed},
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    n = sum(len(x) for x in ax_removed.values())
    print(
        f"wrote {OUT.relative_to(ROOT)}: axolotl {len(facts['axolotl']['deprecated'])} deprecated, {n} removed; "
        f"llamafactory {len(lf_removed)} removed"
    )


if __name__ == "__main__":
    main()
