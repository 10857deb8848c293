"""`ftgen run --launcher skypilot`: submit sky.yaml with `sky launch` and record the run (cluster, task name, how
to follow it) in runs/<run-id>/run.json. SkyPilot runs the job on its cluster: ftgen does not track or collect it."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import FtgenError
from .record import RunRecord, new_run_dir, now


def submit(out_dir: Path | str, framework: str | None = None):
    """(record or None, Submission): without `sky` on PATH nothing is recorded and the Submission says the command."""
    from .._yaml import load_file
    from ..launch.run import submit as launch_submit
    from ..launch.run import submit_command
    from . import read_json

    out_dir = Path(out_dir)
    argv = submit_command(out_dir, "skypilot")
    if shutil.which("sky") is None:
        return None, launch_submit(out_dir, "skypilot")
    plan = read_json(out_dir / "plan.json", "plan.json")
    plan = plan if isinstance(plan, dict) else {}
    framework = framework or (plan.get("framework") or ["?"])[0]
    cluster = argv[argv.index("-c") + 1]
    data = load_file(out_dir / "sky.yaml").data
    job_name = str(data.get("name") or cluster) if isinstance(data, dict) else cluster
    run_id, run_dir = new_run_dir(out_dir.resolve() / "runs", framework)
    record = RunRecord(
        run_id=run_id, name=str(plan.get("name", out_dir.name)), framework=framework, path=str(run_dir.resolve())
    )
    record.launcher = "skypilot"
    record.status = "queued"
    record.command = list(argv)
    record.scheduler = {
        "kind": "skypilot",
        "cluster": cluster,
        "job_name": job_name,
        "job_id": None,
        "submit_command": f"cd {out_dir.resolve()} && {' '.join(argv)}",
        "follow": [f"sky queue {cluster}", f"sky logs {cluster}", f"sky down {cluster}  # when done: stop paying"],
    }
    record.note = (
        f"submitted to SkyPilot cluster {cluster} as task {job_name}: ftgen does not track SkyPilot jobs; "
        f"follow with `sky queue {cluster}` and `sky logs {cluster}`"
    )
    record.save()
    try:
        sub = launch_submit(out_dir, "skypilot")
    except FtgenError as exc:
        record.status, record.finished_at = "failed", now()
        record.note = f"sky launch failed: {exc.render()}"
        record.save()
        raise
    return record, sub
