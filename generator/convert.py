"""Convert a hand-written config from one framework to another through the frameworks' key tables.

The source framework's table reads the config into framework-neutral fields (the Plan's names); the target's
table writes them. Nothing is dropped silently: a key no table carries, a value the target has no counterpart
for, a value the target's schema refuses, each is listed with why. Where the source leaves a field to its
default and the target's default differs, the source's default is written out. Local paths are rebased to the
folder the output goes to; an existing dataset_info.json there is merged, never overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import __version__, _io, frameworks
from ._yaml import load_file
from .errors import FtgenError, Problem
from .frameworks import Framework, Where
from .validate import validate_config

DATASET_INFO = "dataset_info.json"


@dataclass
class Conversion:
    """The converted config, the files it needs, and every source key that did not carry over (with why)."""

    source: str
    source_framework: str
    target_framework: str
    config: dict
    extra_files: dict[str, str] = field(default_factory=dict)  # name -> text (dataset_info.json)
    translated: dict[str, tuple[str, ...]] = field(default_factory=dict)  # neutral field -> source keys
    untranslated: list[Problem] = field(default_factory=list)  # source key, value, why (severity warning)
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The converted config as YAML, headed by what was not translated."""
        src, dst = frameworks.get(self.source_framework), frameworks.get(self.target_framework)
        head = [
            f"{dst.name} {dst.version} config converted by ftgen {__version__} from "
            f"{Path(self.source).name} ({src.name} {src.version})."
        ]
        if self.untranslated:
            head.append(f"Not translated ({len(self.untranslated)}), set by hand if needed:")
            head += [f"  {p.key}: {p.message}" for p in self.untranslated]
        if self.notes:
            head.append("Notes:")
            head += [f"  {n}" for n in self.notes]
        comments = "\n".join("# " + line.replace("\n", " ") for line in head)
        body = yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
        return comments + "\n" + body

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "from": self.source_framework,
            "to": self.target_framework,
            "config": self.config,
            "extra_files": self.extra_files,
            "translated": {k: list(v) for k, v in self.translated.items()},
            "untranslated": [p.to_dict() for p in self.untranslated],
            "notes": self.notes,
        }


def _defaults_to_write(src: Framework, dst: Framework, fields: dict[str, Any]) -> dict[str, Any]:
    """Fields the source leaves to its default where the target would do otherwise: the source's default.

    Written when the target's default differs; where the target has none (it defers to transformers' default, as
    the source does), only when its schema requires the key or the source states its default itself (LLaMA-Factory's
    lora_alpha = 2 x lora_rank)."""
    src_defaults, dst_defaults = src.defaults(fields), dst.defaults(fields)
    implied = src.stated_defaults(fields)
    required = set(dst.schema().get("required", []))
    out = {}
    for name, value in src_defaults.items():
        if name in fields or name == "output_dir" or value is None or not dst.rows_for(name):
            continue
        if name in dst_defaults:
            if dst_defaults[name] != value:
                out[name] = value
        elif dst.key_of(name) in required or name in implied:
            out[name] = value
    return out


def convert_config(
    cfg: dict,
    source: str,
    target: str,
    file: str = "<config>",
    dataset_info: dict | None = None,
    *,
    base: Path | None = None,
    out: Path | None = None,
    existing: dict[str, Any] | None = None,
) -> Conversion:
    """Convert one parsed config; nothing is dropped silently (untranslated keys are listed with why).

    `base` is the folder the config's relative paths are relative to (its own folder), `out` the folder the
    result is written to (paths are rebased there), `existing` the files already in `out` (merged with)."""
    src, dst = frameworks.get(source, file, "--framework"), frameworks.get(target, file, "--to")
    if src is dst:
        others = ", ".join(n for n in frameworks.names() if n != source)
        raise FtgenError([Problem(file, "--to", f"the config is already a {src.label} config", target, others)])
    reading = src.read(cfg, Where(base=base, existing={DATASET_INFO: dataset_info} if dataset_info else {}))
    fields = dict(reading.fields)
    translated = dict(reading.origin)
    notes = list(reading.notes)
    for name, value in _defaults_to_write(src, dst, fields).items():
        fields[name] = value
        notes.append(f"{name}: {value!r} written: {src.label}'s default, {dst.label} would do otherwise")
    written = dst.write(fields, Where(base=base, out=out, existing=dict(existing or {})))
    config = written.config
    generic = f"no {dst.label} counterpart known to ftgen"
    untranslated = {key: (why or generic) for key, why in reading.untranslated.items()}

    def add(key: str, why: str) -> None:  # one key may carry several things that do not translate
        untranslated[key] = (
            why if key not in untranslated or why in untranslated[key] else f"{untranslated[key]}; {why}"
        )

    for name, why in written.untranslated.items():
        for key in translated.pop(name, ()) or (name,):
            add(key, why or f"{generic} ({name})")
    # values the target does not accept (an optimizer only one framework has) come back out, with the reason
    for p in validate_config(target, config, dst.config_name):
        top = p.key.split(".")[0].split("[")[0]
        if top not in config or p.message == "unknown key" or top not in written.by:
            continue
        del config[top]
        why = f"{dst.label} {dst.version}: {p.message}" + (f" (allowed: {p.allowed})" if p.allowed else "")
        for name in written.by[top].fields:
            for key in translated.pop(name, ()):
                add(key, why)
    problems = [
        Problem(file, key, why, _value(cfg, key), None, "warning", "convert")
        for key, why in sorted(untranslated.items())
    ]
    extra = {
        name: (data if isinstance(data, str) else json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        for name, data in written.files.items()
    }
    return Conversion(file, source, target, config, extra, translated, problems, notes + written.notes)


def _value(cfg: dict, key: str) -> Any:
    from .lint._schema import _value_at

    v = _value_at(cfg, key)
    return v if isinstance(v, (str, int, float, bool)) else None


def _read_json(path: Path) -> dict | None:
    try:
        data = _io.read_json(path)
    except FtgenError:
        return None
    return data if isinstance(data, dict) else None


def load_dataset_info(config_path: Path, cfg: dict) -> dict | None:
    """LLaMA-Factory's dataset_info.json for a config: dataset_dir relative to the config, then to the cwd."""
    folder = str(cfg.get("dataset_dir", "data"))
    for base in (config_path.parent, Path.cwd()):
        path = base / folder / DATASET_INFO
        if path.is_file():
            return _read_json(path)
    return None


def convert_file(path: Path | str, target: str, source: str | None = None, out: Path | None = None) -> Conversion:
    """Load, detect and convert one config file, for output into folder `out` (default: the working folder).
    Raises FtgenError (exit 2) for unreadable input."""
    from .lint._detect import detect

    path = Path(path)
    cfg = load_file(path).data
    if not isinstance(cfg, dict):
        raise FtgenError(
            [Problem(str(path), "", "config must be a mapping of keys to values", type(cfg).__name__, "mapping")]
        )
    if source is None:
        source, how = detect(cfg)
        if source is None:
            raise FtgenError(
                [
                    Problem(
                        str(path),
                        "",
                        f"cannot tell the framework: {how}",
                        None,
                        "pass --framework " + " or --framework ".join(frameworks.names()),
                    )
                ]
            )
    out = Path(out) if out is not None else Path.cwd()
    info = load_dataset_info(path, cfg)
    existing = {}
    if (out / DATASET_INFO).is_file():
        found = _read_json(out / DATASET_INFO)
        if found is None:
            raise FtgenError(
                [
                    Problem(
                        str(out / DATASET_INFO),
                        "",
                        "exists but is not a JSON object; ftgen merges into it and will not overwrite it",
                        allowed="a dataset_info.json file, or another output folder",
                    )
                ]
            )
        existing[DATASET_INFO] = found
    return convert_config(cfg, source, target, str(path), info, base=path.parent, out=out, existing=existing)
