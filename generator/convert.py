"""Convert a hand-written Axolotl config to LLaMA-Factory or back, through the framework-neutral fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from . import __version__, _io
from ._yaml import load_file
from .errors import FtgenError, Problem
from .render import _reverse as R
from .validate import FRAMEWORKS, default_version, load_schema, validate_config

NAMES = {"axolotl": "Axolotl", "llamafactory": "LLaMA-Factory"}
OUT_NAME = {"axolotl": "axolotl.yaml", "llamafactory": "llamafactory.yaml"}


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
        src, dst = self.source_framework, self.target_framework
        head = [
            (
                f"{dst} {default_version(dst)} config converted by ftgen {__version__} from "
                f"{Path(self.source).name} ({src} {default_version(src)})."
            )
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


@cache
def _defaults(framework: str) -> dict[str, Any]:
    return {k: v.get("default") for k, v in load_schema(framework).get("properties", {}).items()}


def _make_defaults_explicit(src: str, dst: str, n: R.Neutral, notes: list[str]) -> None:
    """Where the source leaves a setting to its default and the target's default differs, write it out."""
    inverse_dst = {name: key for key, name in R.SIMPLE[dst].items()}
    sd_all, dd_all = _defaults(src), _defaults(dst)
    plugin_keys = set(load_schema(src).get("x-ftgen", {}).get("plugin_keys", {}))
    for src_key, name in R.SIMPLE[src].items():
        if name in n.fields or name not in inverse_dst or name == "output_dir" or src_key in plugin_keys:
            continue
        dst_key = inverse_dst[name]
        sd, dd = sd_all.get(src_key), dd_all.get(dst_key)
        required = dst_key in load_schema(dst).get("required", []) or name == "learning_rate"
        if sd is None or sd == dd or (dd is None and not required):
            continue  # a target default of None defers to transformers' default, the source's own
        n.fields[name] = sd
        notes.append(f"{dst_key}: {sd!r} written: {NAMES[src]}'s default, {NAMES[dst]}'s is {dd!r}")
    if "gradient_checkpointing" not in n.fields and n.get("method") is not None:
        src_gc, dst_gc = _gc_default(src), _gc_default(dst)
        if src_gc != dst_gc:
            n.fields["gradient_checkpointing"] = src_gc
            notes.append(f"gradient checkpointing {'on' if src_gc else 'off'} written: {NAMES[src]}'s default")
    if src == "axolotl" and dst == "llamafactory" and n.get("task") == "pretrain" and "packing" not in n.fields:
        n.fields["packing"] = False
        notes.append(
            "packing: false written: Axolotl packs only with sample_packing, LLaMA-Factory packs pt by default"
        )
    if (
        src == "llamafactory"
        and dst == "axolotl"
        and "lora_alpha" not in n.fields
        and n.get("method") in ("lora", "qlora")
    ):
        rank = n.get("lora_r", sd_all.get("lora_rank"))
        if isinstance(rank, int):
            n.fields["lora_alpha"] = 2 * rank
            notes.append(f"lora_alpha: {2 * rank} written: LLaMA-Factory's default is 2 x lora_rank")


def _gc_default(framework: str) -> bool:
    d = _defaults(framework)
    if framework == "llamafactory":
        return not d.get("disable_gradient_checkpointing", False)
    return bool(d.get("gradient_checkpointing"))


def convert_config(
    cfg: dict, source: str, target: str, file: str = "<config>", dataset_info: dict | None = None
) -> Conversion:
    """Convert one parsed config; nothing is dropped silently (untranslated keys are listed with why)."""
    for fw in (source, target):
        if fw not in FRAMEWORKS:
            raise FtgenError([Problem(file, "--to", "unsupported framework", fw, ", ".join(FRAMEWORKS))])
    if source == target:
        raise FtgenError(
            [
                Problem(
                    file,
                    "--to",
                    f"the config is already a {NAMES[source]} config",
                    target,
                    ", ".join(fw for fw in FRAMEWORKS if fw != source),
                )
            ]
        )
    n = R.to_neutral(source, cfg, dataset_info)
    translated = dict(n.origin)
    notes: list[str] = []
    _make_defaults_explicit(source, target, n, notes)
    emitted = R.from_neutral(target, n)
    untranslated = {k: why for k, why in n.untranslated.items()}
    for name, why in emitted.untranslated.items():
        for key in translated.pop(name, (name,)):
            untranslated[key] = why
    config = emitted.config
    # values the target does not accept (an optimizer only one framework has) come back out, with the reason
    for p in validate_config(target, config, OUT_NAME[target]):
        top = p.key.split(".")[0].split("[")[0]
        if top not in config or p.message == "unknown key":
            continue
        name = next((nm for nm, keys in translated.items() if _writes(target, nm, top)), None)
        del config[top]
        why = f"{NAMES[target]} {default_version(target)}: {p.message}" + (
            f" (allowed: {p.allowed})" if p.allowed else ""
        )
        for key in translated.pop(name, ()) if name else ():
            untranslated[key] = why
    problems = [
        Problem(file, key, why, _value(cfg, key), None, "warning", "convert")
        for key, why in sorted(untranslated.items())
    ]
    extra = {name: json.dumps(data, indent=2, ensure_ascii=False) + "\n" for name, data in emitted.extra_files.items()}
    return Conversion(file, source, target, config, extra, translated, problems, notes + emitted.notes)


def _writes(target: str, name: str, key: str) -> bool:
    inverse = {nm: k for k, nm in R.SIMPLE[target].items()}
    return inverse.get(name) == key


def _value(cfg: dict, key: str) -> Any:
    from .lint._schema import _value_at

    v = _value_at(cfg, key)
    return v if isinstance(v, (str, int, float, bool)) else None


def load_dataset_info(config_path: Path, cfg: dict) -> dict | None:
    """LLaMA-Factory's dataset_info.json for a config: dataset_dir relative to the config, then to the cwd."""
    folder = str(cfg.get("dataset_dir", "data"))
    for base in (config_path.parent, Path.cwd()):
        path = base / folder / "dataset_info.json"
        if path.is_file():
            try:
                data = _io.read_json(path)
            except FtgenError:
                return None
            return data if isinstance(data, dict) else None
    return None


def convert_file(path: Path | str, target: str, source: str | None = None) -> Conversion:
    """Load, detect and convert one config file. Raises FtgenError (exit 2) for unreadable input."""
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
                        "pass --framework axolotl or --framework llamafactory",
                    )
                ]
            )
    info = load_dataset_info(path, cfg) if source == "llamafactory" else None
    return convert_config(cfg, source, target, str(path), info)
