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
    """Rows (framework, task, methods) for docs."""
    rows = []
    for fw in frameworks.all_frameworks():
        rows += [(fw.name, task, ", ".join(methods)) for task, methods in fw.targets.items()]
        rows += [(fw.name, task, f"not supported: {why}") for task, why in fw.unsupported.items()]
    return sorted(rows)


def proof_table() -> list[tuple[str, str, str, str]]:
    """Rows (framework, task, method, proof) for `ftgen targets`: per claimed cell and method, the e2e test that
    trains it or why no run proves it here; an unsupported task has method "-" and says why."""
    rows = []
    for fw in frameworks.all_frameworks():
        for task, methods in fw.targets.items():
            rows += [(fw.name, task, method, proof(fw.name, task, method)) for method in methods]
        rows += [(fw.name, task, "-", f"not supported: {why}") for task, why in fw.unsupported.items()]
    return sorted(rows)


# ------------------------------------------------------------------------------------------------ proof by training
# (framework, task, method) -> the e2e test that trains it for real (`ftgen build` + `ftgen run` on a tiny local
# Llama, CPU, a few steps, "succeeded" with a checkpoint). tests/run/test_targets_e2e.py is parametrised from the
# CELLS entries; the cells tests/run/test_run_e2e.py already trains (24 steps, the loss must fall) are not repeated.
_CELL = "tests/run/test_targets_e2e.py::test_cell_trains"
_SFT = "tests/run/test_run_e2e.py::test_build_and_run"
# each framework module's `proven` table: (task, method) -> "cell" (test_cell_trains) or "run" (test_build_and_run)
CELLS = tuple(
    (fw.name, task, method)
    for fw in frameworks.all_frameworks()
    for (task, method), how in fw.proven.items()
    if how == "cell"
)
SFT_RUNS = tuple(  # as tests/run/test_run_e2e.py CASES: (framework, method, task)
    (fw.name, method, task)
    for fw in frameworks.all_frameworks()
    for (task, method), how in fw.proven.items()
    if how == "run"
)
PROVEN: dict[tuple[str, str, str], str] = {
    **{(fw, task, method): f"{_SFT}[{fw}-{method}-{task}]" for fw, method, task in SFT_RUNS},
    **{cell: f"{_CELL}[{'-'.join(cell)}]" for cell in CELLS},
}
# claimed cells no run proves here, and why
UNPROVEN: dict[tuple[str, str, str], str] = {
    (fw.name, task, method): why for fw in frameworks.all_frameworks() for (task, method), why in fw.unproven.items()
}


def proof(framework: str, task: str, method: str) -> str:
    """How a claimed cell is proven: the e2e test that trains it, or why no run proves it here."""
    if (framework, task, method) in PROVEN:
        return f"trained: {PROVEN[(framework, task, method)]}"
    return UNPROVEN.get(
        (framework, task, method), "not proven by a run here (the method is proven on sft and a preference stage)"
    )
