"""Hostile spec files (alias bombs, deep nesting, huge, binary, python tags) are refused quickly with a clear message."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

from generator import _yaml
from generator.errors import FtgenError
from generator.spec import MAX_SPEC_BYTES, load

REPO = Path(__file__).resolve().parents[2]
# seconds: a guard against a parser that never ends (an alias bomb expands for hours), not a speed target; each
# case takes milliseconds on a laptop and this leaves room for a loaded 2-core CI machine running tests in parallel
TIME_LIMIT = 60.0
VALID_HEAD = (
    "name: x\nbase_model: Qwen/Qwen2.5-7B-Instruct\ndata: {train: [{path: a/b, format: alpaca}], examples: 5000}\n"
)


def _laughs(levels: int, width: int = 9, indent: str = "") -> str:
    lines = [f"{indent}l0: &l0 [" + ",".join(["lol"] * width) + "]"]
    lines += [f"{indent}l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


CASES = {
    # billion laughs: few aliases (within the alias limit), 9**7 nodes once expanded
    "alias-bomb-top": (_laughs(8), "alias bomb"),
    "alias-bomb-in-framework-overrides": (
        VALID_HEAD + "framework_overrides:\n  axolotl:\n" + _laughs(8, indent="    "),
        "alias bomb",
    ),
    "alias-bomb-in-train": (
        "name: x\nbase_model: m\nt0: &t0 [{path: a/b, format: alpaca}]\n"
        + "".join(f"t{i}: &t{i} [" + ",".join([f"*t{i - 1}"] * 9) + "]\n" for i in range(1, 7))
        + "data: {train: *t6}\n",
        "alias bomb",
    ),
    "many-aliases": ("a: &a x\nb: [" + ",".join(["*a"] * 500) + "]\n", "aliases"),
    "recursive-alias": ("name: &a [1, *a]\n", "recursive"),
    "recursive-alias-in-overrides": (
        VALID_HEAD + "framework_overrides: {axolotl: {model_config: &m {x: [*m]}}}\n",
        "recursive",
    ),
    "deep-flow": ("name: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting deeper than"),
    "deep-block": ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x\n", "nesting deeper than"),
    "deep-mixed": ("a: " + "{b: [" * 40 + "1" + "]}" * 40 + "\n", "nesting deeper than"),
    "many-nodes": ("".join(f"k{i}: [1, 2, 3]\n" for i in range(30_000)), "YAML nodes"),
    "huge-file": ("# " + "x" * (5 * 1024 * 1024) + "\n", "larger than"),
    "huge-scalar": ("name: '" + "x" * (MAX_SPEC_BYTES + 10) + "'\n", "larger than"),
    "python-object": ("name: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
    "python-name": ("name: !!python/name:os.system\n", "not valid YAML"),
    "python-module": ("name: !!python/module:os\n", "not valid YAML"),
    "python-tag-in-overrides": (
        VALID_HEAD + "framework_overrides: {axolotl: {x: !!python/object:os.system {}}}\n",
        "not valid YAML",
    ),
    "local-tag": ("name: !evil x\n", "not valid YAML"),
    "tag-directive": ("%TAG !p! tag:yaml.org,2002:python/\n---\nname: !p!object:os.system {}\n", "not valid YAML"),
    "huge-integer": ("seed: " + "9" * 5000 + "\n", "not valid YAML"),
    "large-integer": (VALID_HEAD + "seed: " + "9" * 40 + "\n", "integer is too large"),
    "nan": (VALID_HEAD + "overrides: {learning_rate: .nan}\n", "not finite"),
    "inf": (VALID_HEAD.replace("examples: 5000", "examples: 5000, avg_tokens: .inf"), "not finite"),
    "surrogate": ('name: "\\ud800"\n', "not valid Unicode"),
    "date-in-overrides": (VALID_HEAD + "framework_overrides: {axolotl: {x: 2024-01-01}}\n", "cannot be written"),
    "binary-tag-in-overrides": (
        VALID_HEAD + "framework_overrides: {axolotl: {x: !!binary aGk=}}\n",
        "cannot be written",
    ),
    "duplicate-key": ("name: a\nname: b\n", "duplicate key"),
    "complex-key": ("? [a, b]\n: 1\n", "unhashable"),
    "nul-character": ("name: x\x00\n", "not valid YAML"),
    "two-documents": ("name: x\n---\nname: y\n", "not valid YAML"),
    "not-a-mapping": ("- name: x\n", "must be a YAML mapping"),
    "empty": ("", "must be a YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_text_is_refused_quickly(tmp_path, case):
    text, expected = CASES[case]
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    start = time.perf_counter()
    with pytest.raises(FtgenError) as exc:
        load(path)
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT, f"{case} took {elapsed:.1f} s"
    rendered = exc.value.render()
    assert expected in rendered, rendered
    assert all(p.file == str(path) for p in exc.value.problems)
    assert "Traceback" not in rendered


@pytest.mark.parametrize("case", ["alias-bomb-top", "deep-flow", "huge-file", "python-object", "binary"])
def test_cli_refuses_with_exit_2(tmp_path, cli, case):
    path = tmp_path / "spec.yaml"
    if case == "binary":
        path.write_bytes(os.urandom(2048) + b"\xff\xfe")
    else:
        path.write_text(CASES[case][0], encoding="utf-8")
    start = time.perf_counter()
    result = cli("build", str(path), "--out", str(tmp_path / "out"))
    assert time.perf_counter() - start < TIME_LIMIT
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and str(path) in result.output
    assert not (tmp_path / "out").exists()


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"name: x\n\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(FtgenError, match="not UTF-8 text"):
        load(path)


def test_endless_device_is_refused_before_reading(tmp_path):
    """A spec path that never ends (/dev/zero, or a symlink to it) is refused without reading a byte."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    link = tmp_path / "spec.yaml"
    link.symlink_to("/dev/zero")
    start = time.perf_counter()
    for path in ("/dev/zero", link):
        with pytest.raises(FtgenError, match="refusing to read a file under /dev"):
            load(path)
    assert time.perf_counter() - start < TIME_LIMIT


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_missing_and_folder_paths(tmp_path, what):
    path = tmp_path / "nope.yaml"
    if what == "folder":
        path.mkdir()
    with pytest.raises(FtgenError, match="not found" if what == "missing" else "is a folder"):
        load(path)


def test_config_loader_keeps_its_own_larger_limit(tmp_path):
    """The size limit for framework configs (lint, run) stays 4 MiB; only specs are held to the smaller one."""
    path = tmp_path / "big.yaml"
    path.write_text("a: '" + "x" * (MAX_SPEC_BYTES + 10) + "'\n", encoding="utf-8")
    assert len(_yaml.load_file(path).data["a"]) == MAX_SPEC_BYTES + 10
    path.write_text("# " + "x" * (_yaml.MAX_BYTES + 1), encoding="utf-8")
    with pytest.raises(FtgenError, match="larger than 4 MiB"):
        _yaml.load_file(path)


def test_shared_values_without_expansion_are_fine(tmp_path):
    """Aliases used sensibly (a value shared a few times) still load."""
    path = tmp_path / "spec.yaml"
    path.write_text(
        VALID_HEAD + "framework: both\nframework_overrides:\n  axolotl: &o {max_grad_norm: 0.3}\n  llamafactory: *o\n",
        encoding="utf-8",
    )
    spec = load(path)
    assert spec.framework_overrides["axolotl"] == spec.framework_overrides["llamafactory"] == {"max_grad_norm": 0.3}


def test_generator_only_uses_safe_yaml_loaders():
    """No module parses YAML with a loader that can build Python objects."""
    unsafe = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
    bad_loaders = {"Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader", "CUnsafeLoader"}
    found = []
    for path in sorted((REPO / "generator").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml":
                if node.attr in bad_loaders or node.attr in unsafe - {"load", "load_all"}:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: yaml.{node.attr}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("load", "load_all")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "yaml"
            ):
                loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
                text = ast.unparse(loader) if loader is not None else ""
                if "Safe" not in text and text not in ("_FAST_SAFE", "loader"):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: yaml.{node.func.attr}(Loader={text or '?'})")
    assert not found, "\n".join(found)
    # the two loaders passed by variable name are safe ones
    import yaml

    from generator._yaml import OmegaConfLoader as _OmegaConfLikeLoader

    assert _yaml._FAST_SAFE in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", None))
    assert issubclass(_OmegaConfLikeLoader, yaml.SafeLoader) and issubclass(_yaml._Loader, yaml.SafeLoader)
