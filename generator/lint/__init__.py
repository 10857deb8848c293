"""Lint hand-written Axolotl and LLaMA-Factory configs: schema, version knowledge and domain rules (FTL###)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .. import frameworks
from .._yaml import Loaded, load_file
from ..configschema import default_version
from ..errors import FtgenError
from ._context import Hardware, RuleContext
from ._detect import detect
from ._fastvalidate import clear_caches
from ._model import Finding, LintResult
from ._registry import LintRule, all_lint_rules, get_lint_rule
from ._schema import schema_findings

__all__ = [
    "Finding",
    "Hardware",
    "LintResult",
    "LintRule",
    "all_lint_rules",
    "clear_caches",
    "collect_paths",
    "get_lint_rule",
    "lint_config",
    "lint_file",
    "lint_paths",
]

CONFIG_SUFFIXES = (".yml", ".yaml")


def lint_config(
    cfg: object,
    file: str,
    framework: str | None = None,
    line_of: Callable[[str], int | None] | None = None,
    hardware: Hardware | None = None,
) -> LintResult:
    """Lint one parsed config; every finding is collected (nothing stops at the first)."""
    line_of = line_of or (lambda key: None)
    if framework is None:
        framework, how = detect(cfg)
    else:
        how = "given with --framework"
    if framework is None or not isinstance(cfg, dict):
        msg = "not a mapping of keys to values" if not isinstance(cfg, dict) else f"cannot tell the framework: {how}"
        allowed = (
            "ftgen check / ftgen build for specs"
            if "ftgen spec" in how
            else "pass --framework " + " or --framework ".join(frameworks.names())
        )
        found = type(cfg).__name__ if not isinstance(cfg, dict) else None
        return LintResult(
            file, None, None, [Finding(file, "", msg, "FTL010", "error", found, allowed, 1, "validate")], how
        )
    result = LintResult(file, framework, default_version(framework), detected=how)
    result.findings.extend(schema_findings(framework, cfg, file, line_of))
    ctx = RuleContext(framework, cfg, file, line_of, hardware)
    for rule in all_lint_rules():
        if rule.fn is None or (rule.frameworks is not None and framework not in rule.frameworks):
            continue
        ctx.rule_id, ctx.rule_severity = rule.id, rule.severity
        rule.fn(ctx)
    result.findings.extend(ctx.findings)
    result.findings.sort(key=lambda f: (f.line or 0, f.key, f.rule))
    return result


def lint_file(
    path: Path | str, framework: str | None = None, hardware: Hardware | None = None, display: str | None = None
) -> LintResult:
    """Lint one config file; unreadable or invalid YAML becomes an FTL010 finding, not an exception."""
    file = display or str(path)
    try:
        loaded: Loaded = load_file(path, file)
    except FtgenError as exc:
        findings = [
            Finding(file, p.key, p.message, "FTL010", "error", p.found, p.allowed, p.line, "validate")
            for p in exc.problems
        ]
        return LintResult(file, framework, None, findings, "unreadable")
    return lint_config(loaded.data, file, framework, loaded.line_of, hardware)


def collect_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given, and every *.yml / *.yaml below each folder given (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in CONFIG_SUFFIXES and q.is_file()))
        else:
            out.append(p)
    return out


def lint_paths(
    paths: Iterable[Path | str], framework: str | None = None, hardware: Hardware | None = None
) -> list[LintResult]:
    """Lint every config file under `paths`."""
    if framework is not None and framework not in frameworks.names():
        raise ValueError(f"framework {framework!r} not in {frameworks.names()}")
    return [lint_file(p, framework, hardware) for p in collect_paths(paths)]
