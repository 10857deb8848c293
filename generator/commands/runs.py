"""`ftgen run`, `ftgen runs`, `ftgen show`, `ftgen export`: training runs and their records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .._cli_common import Column, FrameworkChoice, cell_text, err, escape, handle_errors, listing, out, table
from ..errors import Exit, FtgenError, Problem


def _print_summary(summary) -> None:
    grid = table("", "", header=False)
    for k, v in summary.rows():
        grid.add_row(f"[bold]{k}[/]", escape(str(v)))
    out.print(grid)


@click.command()
@click.argument("build_dir", type=click.Path(path_type=Path), required=False)
@click.option(
    "--framework",
    type=FrameworkChoice(),
    default=None,
    help="Which config to run when the build has several.",
)
@click.option(
    "--resume",
    "resume_ref",
    default=None,
    metavar="RUN",
    help="Continue RUN from its last checkpoint (never done implicitly).",
)
@click.option("--env-dir", type=click.Path(path_type=Path), default=None, help="Where managed envs live.")
@click.option("--skip-native-validation", is_flag=True, help="Only ftgen's schema check before the run.")
@click.option(
    "--without-eval-set", is_flag=True, help="Run although the spec has no eval set (the seed: build one first)."
)
@click.option(
    "--no-eval",
    is_flag=True,
    help="Skip scoring the base and fine-tuned models on the eval set after training (`ftgen eval` later).",
)
@click.option(
    "--launcher",
    type=click.Choice(["local", "torchrun", "slurm", "skypilot"]),
    default="local",
    show_default=True,
    help="local and torchrun train here; slurm and skypilot submit the build's "
    "slurm.sbatch / sky.yaml (or print the exact command when the tool is absent).",
)
@click.option(
    "--nproc",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Processes on this machine (torchrun data parallel).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="With --launcher slurm: follow the job (its train.log, as a local run shows its output) until it and its "
    "eval job end, then collect and print the run.",
)
@click.option("--quiet", is_flag=True, help="Do not echo the framework's output (it is still in train.log).")
@click.option("--json", "as_json", is_flag=True, help="Print run.json at the end.")
@click.option(
    "--offline",
    is_flag=True,
    help="No downloads: the model and hub datasets must be in the Hugging Face cache (sets FTGEN_OFFLINE=1; "
    "HF_HUB_OFFLINE=1 or FTGEN_OFFLINE=1 in the environment does the same). Without it the run downloads "
    "what it needs.",
)
@handle_errors
def run(
    build_dir,
    framework,
    resume_ref,
    env_dir,
    skip_native_validation,
    without_eval_set,
    no_eval,
    launcher,
    nproc,
    quiet,
    as_json,
    offline=False,
    wait=False,
):
    """Train BUILD_DIR (outputs/<name>) with its framework; record everything in runs/<run-id>/.

    The framework downloads the base model and hub datasets unless the environment says offline
    (HF_HUB_OFFLINE or FTGEN_OFFLINE) or --offline is given; telemetry is always off.
    """
    import os

    from .. import run as runner
    from ..run.runner import console_printer

    if offline:  # every framework process this command starts (training, eval) inherits it
        os.environ["FTGEN_OFFLINE"] = "1"

    if build_dir is not None and not resume_ref and (Path(build_dir) / "sweep.json").is_file():
        if not without_eval_set:
            runner.require_eval_set(Path(build_dir))
        _run_sweep(
            Path(build_dir), framework, launcher, env_dir, skip_native_validation, no_eval, nproc, quiet, as_json, wait
        )
        return
    if launcher == "slurm":
        from ..run import slurm

        if build_dir is None and not resume_ref:
            raise FtgenError([Problem("<command line>", "BUILD_DIR", "missing", allowed="outputs/<name>")])
        if resume_ref:
            previous = runner.load_run(resume_ref, Path(build_dir) if build_dir else Path("outputs"))
            record = slurm.submit(
                Path(previous.path).parent.parent,
                previous.framework,
                env_root=env_dir,
                evaluate=not no_eval,
                resume_run=Path(previous.path),
            )
        else:
            record = slurm.submit(Path(build_dir), framework, env_root=env_dir, evaluate=not no_eval)
        sched = record.scheduler or {}
        if not as_json:
            out.print(
                f"submitted run {escape(record.run_id)}: Slurm job {escape(str(sched.get('job_id')))}"
                + (f", eval job {escape(str(sched['eval_job_id']))} after it" if sched.get("eval_job_id") else "")
            )
            out.print(f"  {escape(record.path)}")
            for line in sched.get("follow") or []:
                out.print(f"  follow: {escape(line)}")
        if wait:
            record = slurm.wait(record, console_printer(quiet))
            if not as_json:
                from ..run.summary import RunSummary

                _print_summary(RunSummary.of(record))
        if as_json:
            click.echo(json.dumps(record.to_dict(), indent=2, ensure_ascii=False, default=str))
        if record.status in ("failed", "cancelled", "interrupted"):
            raise SystemExit(int(Exit.RUN_FAILED))
        return
    if launcher == "skypilot":
        from ..run import skypilot

        if build_dir is None:
            raise FtgenError([Problem("<command line>", "BUILD_DIR", "missing", allowed="outputs/<name>")])
        record, submission = skypilot.submit(Path(build_dir), framework)
        click.echo(str(submission))
        if record is not None:
            out.print(f"recorded run {escape(record.run_id)}: {escape(record.note or '')}")
        return
    kw = dict(
        env_root=env_dir,
        native=not skip_native_validation,
        on_line=console_printer(quiet),
        evaluate=not no_eval,
        launcher=launcher,
        nproc=nproc,
    )
    if resume_ref:
        record = runner.resume(resume_ref, Path(build_dir) if build_dir else Path("outputs"), **kw)
    else:
        if build_dir is None:
            raise FtgenError([Problem("<command line>", "BUILD_DIR", "missing", allowed="outputs/<name>")])
        if not without_eval_set:
            runner.require_eval_set(Path(build_dir))
        record = runner.start(Path(build_dir), framework, **kw)
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        from ..run.summary import RunSummary

        _print_summary(RunSummary.of(record))
    if (record.eval or {}).get("error"):
        err.print(
            f"[yellow]eval failed[/] (the run stands; retry with `ftgen eval {record.run_id}`): "
            f"{escape(record.eval['error'])}"
        )
    if record.status != "succeeded":
        err.print(f"[red]run {record.status}[/] - log: {escape(str(Path(record.path) / 'train.log'))}")
        sys.exit(int(Exit.RUN_FAILED))


def _run_sweep(build_dir, framework, launcher, env_dir, skip_native, no_eval, nproc, quiet, as_json, wait) -> None:
    """A sweep build: its trials one after another here (finished ones skipped), or as one Slurm array job, or
    one SkyPilot task per trial; exit 3 when a trial failed."""
    from ..run.runner import console_printer
    from ..run.sweep import run_sweep

    if launcher == "slurm":
        from ..run.sweep_launch import submit_slurm

        records = submit_slurm(build_dir, framework, env_root=env_dir, evaluate=not no_eval)
        if wait:  # the array's tasks run side by side: follow each until it and its eval job ended
            from ..run import slurm

            records = [slurm.wait(r, console_printer(quiet or as_json)) for r in records]
        failed = any(r.status in ("failed", "cancelled", "interrupted") for r in records)
        if as_json:
            click.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False, default=str))
            if failed:
                sys.exit(int(Exit.RUN_FAILED))
            return
        if not records:
            out.print("every trial has a succeeded run: nothing to submit")
        for r in records:
            sched = r.scheduler or {}
            ev = f", eval job {sched['eval_job_id']} after it" if sched.get("eval_job_id") else ""
            out.print(f"submitted {escape(r.name)}: run {escape(r.run_id)}, Slurm array task {sched.get('job_id')}{ev}")
        if wait:
            for r in records:
                out.print(f"{escape(r.name)}: [{_status_style(r.status)}]{r.status}[/]")
            out.print(f"rank the trials: ftgen compare {escape(str(build_dir))}")
        elif records:
            out.print(
                f"  follow: ftgen runs {escape(str(build_dir))} --refresh; then ftgen compare {escape(str(build_dir))}"
            )
        if failed:
            sys.exit(int(Exit.RUN_FAILED))
        return
    if launcher == "skypilot":
        from ..run.sweep_launch import submit_skypilot

        for trial, record, submission in submit_skypilot(build_dir, framework):
            click.echo(f"{trial}: {submission}")
            if record is not None:
                out.print(f"  recorded run {escape(record.run_id)}: {escape(record.note or '')}")
        return

    def starting(trial, i, n):
        if not as_json:
            out.print(f"[bold]trial {i + 1}/{n}[/] {escape(trial['id'])}: {escape(json.dumps(trial['parameters']))}")

    results = run_sweep(
        build_dir,
        framework,
        on_trial=starting,
        env_root=env_dir,
        native=not skip_native,
        on_line=console_printer(quiet or as_json),
        evaluate=not no_eval,
        launcher=launcher,
        nproc=nproc,
    )
    rows = [
        {
            "trial": r.trial["id"],
            "run": r.record.run_id if r.record else None,
            "status": r.record.status if r.record else None,
            "skipped": r.skipped,
            "path": r.record.path if r.record else None,
        }
        for r in results
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
    else:
        for row in rows:
            kept = " (finished earlier: kept)" if row["skipped"] else ""
            out.print(f"{escape(row['trial'])}: [{_status_style(row['status'])}]{row['status']}[/]{kept}")
        out.print(f"rank the trials: ftgen compare {escape(str(build_dir))}")
    if any(row["status"] != "succeeded" for row in rows):
        sys.exit(int(Exit.RUN_FAILED))


def _status_style(status) -> str:
    return {"succeeded": "green", "running": "cyan", "interrupted": "yellow", "broken": "bold red"}.get(status, "red")


def _run_row(record, derived) -> dict:
    el = record.metrics.get("eval_loss")
    return {
        "run_id": record.run_id,
        "name": record.name,
        "framework": record.framework,
        "status": derived.status,
        "stale": derived.stale,
        "note": derived.note if derived.stale else record.note,
        "started_at": record.started_at,
        "steps": record.metrics.get("global_step"),
        "eval_loss": el,
        "checkpoints": len(record.checkpoints),
        "path": record.path,
    }


def _broken_row(run_dir: Path, exc: FtgenError) -> dict:
    return {
        "run_id": run_dir.name,
        "name": run_dir.parent.parent.name,
        "framework": None,
        "status": "broken",
        "stale": False,
        "note": "; ".join(p.render() for p in exc.problems),
        "started_at": None,
        "steps": None,
        "eval_loss": None,
        "checkpoints": None,
        "path": str(run_dir),
    }


@click.command()
@click.argument("root", type=click.Path(path_type=Path), default="outputs")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Save the derived status of stale records (running, but their ftgen process is gone) into their run.json.",
)
@handle_errors
def runs(root, as_json, refresh):
    """List runs under ROOT (default outputs/). Read-only: a record still 'running' whose ftgen process is gone is
    shown as interrupted (stale) without touching it (--refresh saves that); a damaged record is listed as broken."""
    from ..run import RunRecord, derive_status, find_runs
    from ..run import refresh as save_refreshed

    rows = []
    for d in find_runs(root):
        try:
            r = RunRecord.load(d)
        except FtgenError as exc:
            rows.append(_broken_row(d, exc))
            continue
        derived = derive_status(r)
        if refresh and derived.stale:
            try:
                save_refreshed(r)
            except OSError as exc:
                raise FtgenError(
                    [
                        Problem(
                            str(Path(r.path) / "run.json"),
                            "",
                            f"cannot save the refreshed status: {exc.strerror or exc}",
                        )
                    ]
                ) from None
        rows.append(_run_row(r, derived))
    columns = [
        Column("run_id", "run"),
        Column("name", "job"),
        Column("framework", "framework"),
        Column("status", "status", style=_status_style),
        Column("started_at", "started"),
        Column("steps", "steps"),
        Column("eval_loss", "eval_loss", lambda v: f"{v:.4f}" if isinstance(v, float) else cell_text(v)),
        Column("checkpoints", "checkpoints"),
    ]
    listing(columns, rows, as_json=as_json)
    broken = [r for r in rows if r["status"] == "broken"]
    if broken and not as_json:
        for r in broken:
            err.print(f"[red]broken[/] {escape(r['path'])}: {escape(r['note'])}")


@click.command()
@click.argument("run_ref")
@click.option("--root", type=click.Path(path_type=Path), default="outputs")
@click.option("--markdown", is_flag=True, help="Print the summary as markdown.")
@handle_errors
def show(run_ref, root, markdown):
    """Print one run's summary (by run id or folder). Read-only: a stale 'running' record is shown as interrupted."""
    from ..run import derive_status, load_run
    from ..run.summary import RunSummary

    record = load_run(run_ref, root)
    derived = derive_status(record)
    summary = RunSummary.of(record, derived)
    if markdown:
        click.echo(summary.markdown())
    else:
        _print_summary(summary)


@click.command()
@click.argument("run_ref")
@click.option("--root", type=click.Path(path_type=Path), default="outputs")
@click.option(
    "--orphans",
    is_flag=True,
    help="Also stop a trainer that outlived its ftgen process (only when it is provably that run's trainer).",
)
@handle_errors
def stop(run_ref, root, orphans):
    """Stop a running run: SIGTERM to the ftgen process running it, which stops the trainer and records the run as
    interrupted. Signals a process only with proof it is this run's (same boot, same start time, same command
    line); anything else is refused (exit 2) and nothing is signalled."""
    from ..run import load_run
    from ..run.stop import stop as stop_run

    record = load_run(run_ref, root)
    try:
        result = stop_run(record, orphans)
    except OSError as exc:
        raise FtgenError(
            [Problem(str(Path(record.path) / "run.json"), "", f"cannot update the run record: {exc.strerror or exc}")]
        ) from None
    out.print(escape(result.message))


@click.command()
@click.argument("run_ref")
@click.option("--root", type=click.Path(path_type=Path), default="outputs")
@click.option("--env-dir", type=click.Path(path_type=Path), default=None)
@handle_errors
def export(run_ref, root, env_dir):
    """Merge a run's LoRA adapter into the base model through the framework; record where it went."""
    from ..run import load_run
    from ..run.export import merge

    record = load_run(run_ref, root)
    path = merge(record, env_root=env_dir)
    out.print(f"[green]merged[/] {escape(str(path))}")


COMMANDS = [run, runs, show, stop, export]
