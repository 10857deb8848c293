"""Which spec values make a framework import Python code, and whether the spec allows it (`allow_imports`).

A framework config can name modules the framework imports when training starts: code that runs with the
trainer's rights, chosen by whoever edits `framework_overrides`. The spec allows a module only when a prefix
in `allow_imports` covers it (`my_pkg` covers my_pkg and my_pkg.*); the framework's own modules need no entry.

Where each framework imports a module named by its config (read in the pinned sources):
  Axolotl 0.19.0
    plugins[]                     integrations/base.py load_plugin: import_module(module), also
                                  "axolotl.integrations." + module
    datasets[].type, test_datasets[].type, pretraining_dataset[].type
                                  prompt_strategies/__init__.py load (SFT) and prompt_strategies/base.py load
                                  (dpo/kto/orpo/ebft): a dotted name whose first part is not a built-in
                                  strategy module is imported (base.load also imports an undotted one)
    trainer_cls                   utils/import_helper.py get_cls_from_module_str (core/builders/causal.py, rl.py)
    trl.reward_funcs[], trl.rollout_func
                                  core/trainers/grpo/__init__.py: import_module(all but the last part)
    hatchery.reward_funcs[]       integrations/hatchery/rl_trainer.py _load_reward_func
    vllm.serve_module             cli/vllm_serve.py: the module run as the vLLM server
  LLaMA-Factory 0.9.5: its train path imports no module named by its config. The v1 plugins (only with
    USE_V1) import from inside llamafactory.v1 only, and a dataset_info.json `script_url` reaches
    datasets 4.0.0, which refuses loading scripts. What its config can change is which model loads.

The model path is not an import but decides what trains: an override of base_model, base_model_config,
tokenizer_config (Axolotl) or model_name_or_path (LLaMA-Factory) is refused, since the plan, the memory
estimate, the chat template and `ftgen review` would all describe a different model than the one trained.

GRPO reward functions named in the spec (rl.reward_funcs) are the team's own modules: ftgen locates them
beside the spec with importlib's path finder (PathFinder.find_spec, which never runs a module, unlike
importlib.util.find_spec on a dotted name) and reads their source for the function; it never imports them.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

from .errors import Problem

MODEL_KEYS = {
    "axolotl": ("base_model", "base_model_config", "tokenizer_config"),
    "llamafactory": ("model_name_or_path",),
}
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_DATASET_LISTS = ("datasets", "test_datasets", "pretraining_dataset")
_AXOLOTL_VERSION = "0.19.0"


@cache
def _axolotl_builtins() -> tuple[frozenset[str], frozenset[str]]:
    """(built-in plugin class paths, built-in strategy modules of every family), from the generated schema."""
    from ._resources import schemas_dir

    path = schemas_dir() / f"axolotl-{_AXOLOTL_VERSION}.schema.json"
    meta = json.loads(path.read_text(encoding="utf-8")).get("x-ftgen", {}).get("builtin_imports", {})
    plugins = frozenset(meta.get("plugins", ()))
    modules = frozenset(m for family in (meta.get("strategy_modules") or {}).values() for m in family)
    return plugins, modules


def allowed(module: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    """Whether allow_imports covers `module` (a prefix on dotted boundaries: `my` never covers `mypkg`)."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _parent(name: str) -> str:
    """The module of a dotted `module.attribute` name (what import_module receives)."""
    return name.rsplit(".", 1)[0] if "." in name else name


def _strategy_module(value: Any) -> str | None:
    """The module a datasets[].type value makes Axolotl import from outside its package, or None."""
    if not isinstance(value, str) or not _DOTTED.match(value):
        return None  # a mapping (user-defined format), alpaca:chat, or nothing importable
    _, modules = _axolotl_builtins()
    if value.split(".")[0] in modules:
        return None  # Axolotl's own strategy (chat_template.argilla, llama3.prompt_pairs, ...)
    return _parent(value)


def _plugin_module(value: Any) -> str | None:
    if not isinstance(value, str) or not _DOTTED.match(value) or "." not in value:
        return None
    plugins, _ = _axolotl_builtins()
    if value in plugins or f"axolotl.integrations.{value}" in plugins or value.startswith("axolotl.integrations."):
        return None
    return _parent(value)


def _axolotl_imports(cfg: dict) -> Iterator[tuple[str, str]]:
    """(key path inside the config, module imported) for every import an Axolotl config asks for."""
    for i, value in enumerate(_as_list(cfg.get("plugins"))):
        module = _plugin_module(value)
        if module:
            yield f"plugins[{i}]", module
    for key in _DATASET_LISTS:
        for i, entry in enumerate(_as_list(cfg.get(key))):
            if isinstance(entry, dict):
                module = _strategy_module(entry.get("type"))
                if module:
                    yield f"{key}[{i}].type", module
    if isinstance(cfg.get("trainer_cls"), str) and _DOTTED.match(cfg["trainer_cls"]):
        yield "trainer_cls", _parent(cfg["trainer_cls"])
    for section, list_key, one_key in (("trl", "reward_funcs", "rollout_func"), ("hatchery", "reward_funcs", None)):
        block = cfg.get(section)
        if not isinstance(block, dict):
            continue
        for i, value in enumerate(_as_list(block.get(list_key))):
            if isinstance(value, str) and _DOTTED.match(value) and "." in value:
                yield f"{section}.{list_key}[{i}]", _parent(value)
        if one_key and isinstance(block.get(one_key), str) and _DOTTED.match(block[one_key]):
            yield f"{section}.{one_key}", _parent(block[one_key])
    vllm = cfg.get("vllm")
    if isinstance(vllm, dict) and isinstance(vllm.get("serve_module"), str) and _DOTTED.match(vllm["serve_module"]):
        if not vllm["serve_module"].startswith("axolotl."):
            yield "vllm.serve_module", vllm["serve_module"]


def _as_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


IMPORTS: dict[str, Callable[[dict], Iterator[tuple[str, str]]]] = {
    "axolotl": _axolotl_imports,
    "llamafactory": lambda cfg: iter(()),  # nothing in 0.9.5 (see the module docstring)
}


def override_problems(data: dict, file: str, line_of: Callable[[str], int | None]) -> list[Problem]:
    """framework_overrides values that import code outside allow_imports, or that replace the model path."""
    prefixes = [p for p in _as_list(data.get("allow_imports")) if isinstance(p, str)]
    out = []
    for framework, cfg in (data.get("framework_overrides") or {}).items():
        if not isinstance(cfg, dict):
            continue
        for key in MODEL_KEYS.get(framework, ()):
            if key in cfg:
                where = f"framework_overrides.{framework}.{key}"
                out.append(
                    Problem(
                        file,
                        where,
                        "the model is the spec's own base_model: an override here would train another model than "
                        "the one the plan, the memory estimate and the review describe",
                        found=cfg[key],
                        allowed="base_model: <the model> at the top of the spec, and no override",
                        line=line_of(where),
                    )
                )
        for key, module in IMPORTS.get(framework, lambda cfg: iter(()))(cfg):
            if allowed(module, prefixes):
                continue
            where = f"framework_overrides.{framework}.{key}"
            out.append(
                Problem(
                    file,
                    where,
                    f"{framework} would import and run module {module!r}, which allow_imports does not list",
                    found=module,
                    allowed=f"add {module.split('.')[0]!r}"
                    + (f" (or {module!r})" if "." in module else "")
                    + " to allow_imports if the team trusts it",
                    line=line_of(where),
                )
            )
    return out


def locate(name: str, folder: Path) -> Path | None:
    """The source file of module `name` (dotted) under `folder`, found the way `import` would find it there, but
    without running anything (importlib.util.find_spec would execute the parent packages of a dotted name)."""
    search = [str(folder)]
    spec = None
    parts = name.split(".")
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), search)
        if spec is None:
            return None
        if i < len(parts) - 1:
            if not spec.submodule_search_locations:
                return None
            search = list(spec.submodule_search_locations)
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    return Path(spec.origin)


def _top_level_names(source: str) -> set[str] | None:
    """Names a module binds at its top level (def, class, assignment, import); None when `*` imports hide them."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add((alias.asname or alias.name).split(".")[0])
    return names


def reward_problems(data: dict, file: str, line_of: Callable[[str], int | None], base_dir: Path) -> list[Problem]:
    """rl.reward_funcs: each module must be the team's own beside the spec (located, never run) and define the
    function, or be an installed module that allow_imports lists."""
    from . import _io
    from .errors import FtgenError

    rl = data.get("rl")
    if not isinstance(rl, dict):
        return []
    prefixes = [p for p in _as_list(data.get("allow_imports")) if isinstance(p, str)]
    out = []
    for i, name in enumerate(_as_list(rl.get("reward_funcs"))):
        if not isinstance(name, str) or "." not in name:
            continue
        key = f"rl.reward_funcs[{i}]"
        module, func = name.rsplit(".", 1)
        path = locate(module, base_dir)
        if path is None:
            if allowed(module, prefixes):
                continue
            out.append(
                Problem(
                    file,
                    key,
                    f"reward function module {module!r} is not beside the spec (looked in {base_dir})",
                    found=name,
                    allowed=f"a {module.replace('.', '/')}.py next to the spec, or an installed module listed in "
                    "allow_imports",
                    line=line_of(key),
                )
            )
            continue
        try:
            source = _io.read_text(path, str(path), 4 * 1024 * 1024)[0]
            names = _top_level_names(source)
        except (FtgenError, SyntaxError, ValueError) as exc:
            msg = exc.problems[0].message if isinstance(exc, FtgenError) else f"{type(exc).__name__}: {exc}"
            out.append(Problem(file, key, f"cannot read reward module {path}: {msg}", found=name, line=line_of(key)))
            continue
        if names is not None and func not in names:
            out.append(
                Problem(
                    file,
                    key,
                    f"{path.name} defines no {func!r} at its top level",
                    found=name,
                    allowed=", ".join(sorted(n for n in names if not n.startswith("_"))) or "a function of that name",
                    line=line_of(key),
                )
            )
    return out
