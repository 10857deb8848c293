"""`ftgen run` on a sweep build: its trials one after another, each a normal run under trials/<id>/runs/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import FtgenError, Problem
from ..sweep import read
from .record import RunRecord, find_runs


@dataclass(frozen=True)
class TrialRun:
    """A trial's outcome in this `ftgen run`: its record, and whether an earlier run had already finished it."""

    trial: dict
    record: RunRecord | None
    skipped: bool = False


def trial_dirs(build_dir: Path) -> list[tuple[dict, Path]]:
    """The sweep's kept trials with their build folders (sweep.json's order); FtgenError when not a sweep."""
    data = read(build_dir)
    if data is None:
        raise FtgenError(
            [
                Problem(
                    str(build_dir),
                    "",
                    "not a sweep build (no sweep.json)",
                    allowed="a folder `ftgen build` wrote for a spec with a sweep: block",
                )
            ]
        )
    out = []
    for t in data["trials"]:
        folder = Path(build_dir) / str(t.get("dir", "")) if isinstance(t, dict) else Path(build_dir)
        if not isinstance(t, dict) or not t.get("dir") or not (folder / "plan.json").is_file():
            raise FtgenError(
                [
                    Problem(
                        str(Path(build_dir) / "sweep.json"),
                        "trials",
                        "a trial's build folder is missing",
                        found=t.get("dir") if isinstance(t, dict) else t,
                        allowed="rebuild the sweep with `ftgen build SPEC`",
                    )
                ]
            )
        out.append((t, folder))
    return out


def runs_of(trial_dir: Path) -> list[RunRecord]:
    """Every readable run record of a trial, oldest first (a damaged run.json is left out)."""
    records = []
    for folder in find_runs(Path(trial_dir)):
        try:
            records.append(RunRecord.load(folder))
        except FtgenError:
            continue
    return records


def finished(trial_dir: Path) -> RunRecord | None:
    """The trial's latest succeeded run, or None."""
    done = [r for r in runs_of(trial_dir) if r.status == "succeeded"]
    return done[-1] if done else None


def run_sweep(
    build_dir: Path,
    framework: str | None = None,
    *,
    on_trial: Callable[[dict, int, int], None] | None = None,
    **start_kw,
) -> list[TrialRun]:
    """Run every trial that has no succeeded run yet, one after another, here (runner.start, eval included);
    a failed trial does not stop the others."""
    from . import start

    results = []
    trials = trial_dirs(build_dir)
    for i, (t, folder) in enumerate(trials):
        done = finished(folder)
        if done is not None:
            results.append(TrialRun(t, done, skipped=True))
            continue
        if on_trial:
            on_trial(t, i, len(trials))
        record = start(folder, framework, **start_kw)
        record.sweep_trial = trial_info(build_dir, t)
        record.save()
        results.append(TrialRun(t, record))
    return results


def trial_info(build_dir: Path, trial: dict) -> dict:
    """run.json's sweep_trial: which sweep, which trial, its overrides."""
    data = read(build_dir) or {}
    return {"sweep": str(data.get("name", Path(build_dir).name)), "id": trial["id"], "parameters": trial["parameters"]}
