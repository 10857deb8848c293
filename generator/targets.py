"""Supported targets: which framework runs which task (stage) with which methods, as one plain table.

The cells live in each framework module (`targets`, `unsupported`, `preferred`); this module reads them through
the registry so that the table, the rules and `ftgen targets` agree.
"""

from __future__ import annotations

from . import frameworks
from .plan import Method

METHODS = Method.values()


def supports(framework: str, task: str, method: str | None = None) -> bool:
    fw = frameworks.get(framework) if framework in frameworks.names() else None
    methods = fw.targets.get(str(task)) if fw else None
    return methods is not None and (method is None or str(method) in methods)


def frameworks_for(task: str) -> tuple[str, ...]:
    return tuple(fw.name for fw in frameworks.all_frameworks() if str(task) in fw.targets)


def why_not(framework: str, task: str) -> str:
    """Why `framework` cannot run `task` (its own words where it has them)."""
    fw = frameworks.get(framework) if framework in frameworks.names() else None
    if fw is not None and str(task) in fw.unsupported:
        return fw.unsupported[str(task)]
    return f"{frameworks.label(framework)} does not support task {task}"


def auto_choice(task: str, method: str | None = None) -> tuple[str, str] | None:
    """(framework, why) that `framework: auto` picks for a task: the first that prefers it, else the first able."""
    able = [fw for fw in frameworks.all_frameworks() if supports(fw.name, task, method)]
    if not able:
        return None
    for fw in able:
        if str(task) in fw.preferred:
            return fw.name, f"task {task}: {fw.preferred[str(task)]}"
    return able[0].name, f"task {task}: {able[0].label} is the first framework that runs it"


def table() -> list[tuple[str, str, str]]:
    """Rows (framework, task, methods) for docs and `ftgen targets`."""
    rows = []
    for fw in frameworks.all_frameworks():
        rows += [(fw.name, task, ", ".join(methods)) for task, methods in fw.targets.items()]
        rows += [(fw.name, task, f"not supported: {why}") for task, why in fw.unsupported.items()]
    return sorted(rows)
