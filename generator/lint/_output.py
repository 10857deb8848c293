"""Lint output: text lines (file:line, key, message, rule), JSON for bots, GitHub annotations; the exit code."""

from __future__ import annotations

import json

from .._secrets import mask_text
from ..errors import Exit
from ._model import Finding, LintResult

_GH_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
FAIL_LEVELS = ("error", "warning", "info", "never")


def text(results: list[LintResult]) -> str:
    """One line per finding, then a summary line."""
    lines = []
    for r in results:
        for f in r.findings:
            where = f.file + (f":{f.line}" if f.line else "")
            p = f.problem()
            body = mask_text(f.message)
            if f.found is not None:
                body += f" (found {_short(p.shown_found)})"
            if f.allowed:
                body += f"; allowed: {mask_text(f.allowed)}"
            lines.append(f"{where}: {f.severity}: {f.key or '<file>'}: {body} [{f.rule}]")
    lines.append(summary(results))
    return "\n".join(lines) + "\n"


def summary(results: list[LintResult]) -> str:
    e = sum(r.count("error") for r in results)
    w = sum(r.count("warning") for r in results)
    i = sum(r.count("info") for r in results)
    clean = sum(1 for r in results if not r.findings)
    return (
        f"{len(results)} config{'s' if len(results) != 1 else ''} linted: {e} error{'s' * (e != 1)}, "
        f"{w} warning{'s' * (w != 1)}, {i} info; {clean} clean"
    )


def _short(value, limit: int = 60) -> str:
    t = repr(value)
    return t if len(t) <= limit else t[: limit - 3] + "..."


def as_json(results: list[LintResult]) -> str:
    data = {
        "summary": {
            "files": len(results),
            "errors": sum(r.count("error") for r in results),
            "warnings": sum(r.count("warning") for r in results),
            "infos": sum(r.count("info") for r in results),
        },
        "files": [r.to_dict() for r in results],
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def _gh_data(text_: str) -> str:
    return text_.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text_: str) -> str:
    return _gh_data(text_).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    """`::error file=F,line=L,title=RULE::message` (GitHub Actions workflow command)."""
    props = [f"file={_gh_prop(f.file)}"]
    if f.line:
        props.append(f"line={f.line}")
    props.append(f"title={_gh_prop(f.rule)}")
    body = (f"{f.key}: " if f.key else "") + mask_text(f.message)
    if f.found is not None:
        body += f" (found {_short(f.problem().shown_found)})"
    if f.allowed:
        body += f"; allowed: {mask_text(f.allowed)}"
    return f"::{_GH_LEVEL[f.severity]} {','.join(props)}::{_gh_data(body)}"


def github(results: list[LintResult]) -> str:
    return "".join(annotation(f) + "\n" for r in results for f in r.findings)


def exit_code(results: list[LintResult], fail_on: str = "error") -> int:
    """2 when a file could not be read as a config; 1 when a finding reaches `fail_on`; else 0."""
    if any(f.rule == "FTL010" for r in results for f in r.findings):
        return int(Exit.INVALID)
    order = ("info", "warning", "error")
    if fail_on == "never":
        return int(Exit.OK)
    threshold = order.index(fail_on)
    worst = [order.index(f.severity) for r in results for f in r.findings]
    return int(Exit.FINDINGS) if worst and max(worst) >= threshold else int(Exit.OK)
