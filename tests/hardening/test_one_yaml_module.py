"""One YAML module (issue 13, item 3): only generator/_yaml.py parses YAML; everything else goes through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from generator import _yaml
from generator.errors import FtgenError

REPO = Path(__file__).resolve().parents[2]
PARSING = {"load", "safe_load", "load_all", "safe_load_all", "full_load", "unsafe_load", "parse", "compose", "scan"}
LOADERS = {"Loader", "SafeLoader", "CSafeLoader", "CLoader", "FullLoader", "UnsafeLoader", "BaseLoader", "CBaseLoader"}
# _env_scripts run inside the framework envs and read configs exactly as the framework does (not ftgen code)
EXEMPT = {"generator/_yaml.py"}


def test_only_the_yaml_module_parses_yaml():
    found = []
    for path in sorted((REPO / "generator").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in EXEMPT or rel.startswith("generator/_env_scripts/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml":
                if node.attr in PARSING or node.attr in LOADERS:
                    found.append(f"{rel}:{node.lineno}: yaml.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "yaml":
                names = {a.name for a in node.names} & (PARSING | LOADERS)
                if names:
                    found.append(f"{rel}:{node.lineno}: from yaml import {', '.join(sorted(names))}")
    assert not found, "parse YAML through generator._yaml:\n" + "\n".join(found)


@pytest.mark.parametrize("dialect", _yaml.DIALECTS)
def test_every_dialect_keeps_the_limits(dialect):
    bomb = (
        "a: &a ["
        + ",".join(["x"] * 9)
        + "]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
    )
    for text, message in ((bomb, "alias"), ("a: 1\na: 2\n", "duplicate key"), ("x: !!python/name:os.system\n", "YAML")):
        with pytest.raises(FtgenError, match=message):
            _yaml.load_text(text, "f.yaml", dialect=dialect)


def test_the_omegaconf_dialect_reads_like_llamafactory():
    assert _yaml.load_text("lr: 1e-4\nd: 2024-01-01\n", "f", dialect="omegaconf").data == {
        "lr": 1e-4,
        "d": "2024-01-01",
    }
    assert _yaml.load_text("lr: 1e-4\n", "f").data == {"lr": "1e-4"}
