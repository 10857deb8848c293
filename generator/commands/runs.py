"""`ftgen run`, `ftgen runs`, `ftgen show`, `ftgen export`: training runs and their records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from .._cli_common import FrameworkChoice, err, handle_errors, out, table
from ..errors import Exit, FtgenError, Problem


def _print_summary(record) -> None:
    from ..run.summary import RunSummary

    grid = table("", "", header=False)
    for k, v in RunSummary.of(record).rows():
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
@click.option("--quiet", is_flag=True, help="Do not echo the framework's output (it is still in train.log).")
@click.option("--json", "as_json", is_flag=True, help="Print run.json at the end.")
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
):
    """Train BUILD_DIR (outputs/<name>) with its framework; record everything in runs/<run-id>/."""
    from .. import run as runner
    from ..run.runner import console_printer

    if launcher in ("slurm", "skypilot"):
        from ..launch.run import submit

        if build_dir is None:
            raise FtgenError([Problem("<command line>", "BUILD_DIR", "missing", allowed="outputs/<name>")])
        click.echo(str(submit(Path(build_dir), launcher)))
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
        plan_path = Path(build_dir) / "plan.json"
        if plan_path.is_file() and not without_eval_set:
            plan = json.loads(plan_path.read_text(encoding="utf-8"))
            if not (plan.get("facts") or {}).get("eval"):
                raise FtgenError(
                    [
                        Problem(
                            str(plan_path),
                            "eval",
                            "the spec has no eval set: build an eval set first "
                            "(200-500 prompts with ground-truth answers), or pass --without-eval-set",
                        )
                    ]
                )
        record = runner.start(Path(build_dir), framework, **kw)
    if as_json:
        click.echo((Path(record.path) / "run.json").read_text())
    else:
        _print_summary(record)
    if (record.eval or {}).get("error"):
        err.print(
            f"[yellow]eval failed[/] (the run stands; retry with `ftgen eval {record.run_id}`): "
            f"{escape(record.eval['error'])}"
        )
    if record.status != "succeeded":
        err.print(f"[red]run {record.status}[/] - log: {escape(str(Path(record.path) / 'train.log'))}")
        sys.exit(int(Exit.RUN_FAILED))


@click.command()
@click.argument("root", type=click.Path(path_type=Path), default="outputs")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def runs(root, as_json):
    """List runs under ROOT (default outputs/) as a table; marks stale 'running' records."""
    from ..run import RunRecord, find_runs, mark_stale

    records = []
    for d in find_runs(root):
        try:
            r = RunRecord.load(d)
        except (OSError, ValueError, TypeError):
            continue
        mark_stale(r)
        records.append(r)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "run_id": r.run_id,
                        "name": r.name,
                        "framework": r.framework,
                        "status": r.status,
                        "eval_loss": r.metrics.get("eval_loss"),
                        "path": r.path,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return
    grid = table("run", "job", "framework", "status", "started", "steps", "eval_loss", "checkpoints")
    for r in records:
        colour = {"succeeded": "green", "running": "cyan", "interrupted": "yellow"}.get(r.status, "red")
        el = r.metrics.get("eval_loss")
        grid.add_row(
            r.run_id,
            r.name,
            r.framework,
            f"[{colour}]{r.status}[/]",
            r.started_at,
            str(r.metrics.get("global_step", "")),
            f"{el:.4f}" if isinstance(el, float) else "",
            str(len(r.checkpoints)),
        )
    out.print(grid)


@click.command()
@click.argument("run_ref")
@click.option("--root", type=click.Path(path_type=Path), default="outputs")
@click.option("--markdown", is_flag=True, help="Print the summary as markdown.")
@handle_errors
def show(run_ref, root, markdown):
    """Print one run's summary (by run id or folder)."""
    from ..run import load_run, mark_stale
    from ..run.summary import RunSummary

    record = load_run(run_ref, root)
    mark_stale(record)
    if markdown:
        click.echo(RunSummary.of(record).markdown())
    else:
        _print_summary(record)


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


COMMANDS = [run, runs, show, export]
