"""Which spec values make a framework import Python code, and whether the spec allows it (`allow_imports`).

A framework config can name modules the framework imports when training starts: code that runs with the
trainer's rights, chosen by whoever edits `framework_overrides`. The spec allows a module only when a prefix
in `allow_imports` covers it (`my_pkg` covers my_pkg and my_pkg.*); the framework's own modules need no entry.
Which config keys import what is framework knowledge: each framework module answers it (`Framework.imports`,
with the places in its pinned sources), and names the keys that choose the model (`Framework.model_keys`).

The model path is not an import but decides what trains: an override of a model key is refused, since the
plan, the memory estimate, the chat template and `ftgen review` would all describe a different model than the
one trained.

GRPO reward functions named in the spec (rl.reward_funcs) are the team's own modules: ftgen locates them
beside the spec with importlib's path finder (PathFinder.find_spec, which never runs a module, unlike
importlib.util.find_spec on a dotted name) and reads their source for the function; it never imports them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

from .errors import Problem


def allowed(module: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    """Whether allow_imports covers `module` (a prefix on dotted boundaries: `my` never covers `mypkg`)."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _as_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def override_problems(data: dict, file: str, line_of: Callable[[str], int | None]) -> list[Problem]:
    """framework_overrides values that import code outside allow_imports, or that replace the model path."""
    prefixes = [p for p in _as_list(data.get("allow_imports")) if isinstance(p, str)]
    out = []
    from . import frameworks

    for framework, cfg in (data.get("framework_overrides") or {}).items():
        if not isinstance(cfg, dict) or framework not in frameworks.names():
            continue
        fw = frameworks.get(framework)
        for key in fw.model_keys:
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
        for key, module in fw.imports(cfg):
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
