"""`ftgen eval`, `ftgen report`, `ftgen compare`: eval-set scores of runs, reports and side-by-side charts."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from .._cli_common import err, escape, handle_errors, out


def _score_table(ev: dict) -> Table:
    from ..evaluate.report import metric_rows

    table = Table("metric", "base", "fine-tuned", "delta", box=None)
    for m in metric_rows(ev):
        colour = (
            "green"
            if m["delta"].startswith("+") and m["delta"] != "+0.0000"
            else ("red" if m["delta"].startswith("-") and m["delta"] != "-" else "white")
        )
        table.add_row(m["name"], m["base"], m["finetuned"], f"[{colour}]{m['delta']}[/]")
    return table


@click.command("eval")
@click.argument("run_ref")
@click.option("--root", type=click.Path(path_type=Path), default="outputs", help="Where to look up run ids.")
@click.option("--env-dir", type=click.Path(path_type=Path), default=None, help="Where managed envs live.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's eval record as JSON.")
@handle_errors
def eval_(run_ref, root, env_dir, as_json):
    """Score RUN's base and fine-tuned models on the build's eval set (greedy, the training prompt format).

    Writes runs/<id>/eval/{base,finetuned}.predictions.jsonl and the summary into run.json.
    """
    from ..evaluate import evaluate_run
    from ..run import load_run
    from ..run.runner import console_printer

    record = load_run(run_ref, root)
    ev = evaluate_run(record, env_root=env_dir, on_line=None if as_json else console_printer())
    if as_json:
        click.echo(json.dumps(ev, indent=2, ensure_ascii=False))
        return
    out.print(_score_table(ev))
    for name, path in ev["predictions"].items():
        out.print(f"predictions ({name}): {escape(path)}")
    if ev.get("harness"):
        out.print(f"lm-evaluation-harness: {escape(str(ev['harness'].get('status')))}")


@click.command()
@click.argument("run_ref")
@click.option("--root", type=click.Path(path_type=Path), default="outputs", help="Where to look up run ids.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for report.md and report.html (default: the run's folder).",
)
@handle_errors
def report(run_ref, root, out_dir):
    """Write RUN's report (markdown and HTML): base vs fine-tuned scores, loss curves, worst regressions."""
    from ..evaluate.report import write_report
    from ..run import load_run

    record = load_run(run_ref, root)
    for path in write_report(record, out_dir):
        out.print(f"[green]wrote[/] {escape(str(path))}")


@click.command()
@click.argument("run_refs", nargs=-1, required=True)
@click.option("--root", type=click.Path(path_type=Path), default="outputs", help="Where to look up run ids.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("compare"),
    show_default=True,
    help="Folder for compare.md and compare.png.",
)
@handle_errors
@click.option("--json", "as_json", is_flag=True, help="A sweep: print the ranking as JSON.")
def compare(run_refs, root, out_dir, as_json=False):
    """Put runs side by side: a markdown table and a bar chart PNG of their eval-set scores.

    A sweep's build folder (outputs/<name> with sweep.json) ranks its trials by the sweep's metric instead: a
    table, sweep.md and sweep.png in the build folder, the best trial marked with its distance from the base
    model, and one run for the sweep in the tracker when the spec tracks with MLflow.
    """
    from ..sweep import read

    if len(run_refs) == 1 and Path(run_refs[0]).is_dir():
        data = read(Path(run_refs[0]))
        if data is not None:
            _compare_sweep(Path(run_refs[0]), data, as_json)
            return
    from ..evaluate.report import compare as write_compare
    from ..run import load_run

    records = [load_run(ref, root) for ref in run_refs]
    for path in write_compare(records, out_dir):
        out.print(f"[green]wrote[/] {escape(str(path))}")


def _compare_sweep(build_dir: Path, data: dict, as_json: bool) -> None:
    from .._cli_common import table
    from ..evaluate import sweep as sweep_compare

    ranking = sweep_compare.rank(build_dir, data)
    md, png = sweep_compare.write(build_dir, ranking)
    try:
        tracked = sweep_compare.log_to_tracker(build_dir, ranking, data)
    except Exception as exc:  # the ranking stands without the tracker
        tracked = None
        err.print(f"[yellow]not logged to the tracker[/]: {escape(f'{type(exc).__name__}: {exc}'[:400])}")
    if as_json:
        click.echo(json.dumps(dict(ranking.to_dict(), tracker_run=tracked), indent=2, default=str))
        return
    headers = list(sweep_compare.HEADERS)
    headers[sweep_compare.SCORE_COLUMN] = f"{ranking.metric} ({ranking.goal})"
    grid = table(*headers)
    for cells in sweep_compare.rows(ranking):
        style = "bold green" if cells[0].endswith("(best)") else None
        grid.add_row(*(f"[{style}]{escape(c)}[/]" if style else escape(c) for c in cells))
    out.print(grid)
    best = ranking.best
    if best is None:
        out.print(f"[yellow]no trial has a score yet[/]: `ftgen run {escape(str(build_dir))}` runs the trials")
    else:
        vs = f", {best.vs_base:+.4f} vs the base model ({best.base:.4f})" if best.vs_base is not None else ""
        out.print(f"[bold green]best[/] {escape(best.id)}: {ranking.metric} {best.score:.4f}{vs}")
    for d in ranking.dropped:
        out.print(f"[yellow]dropped at build[/] {escape(str(d.get('id')))}: {escape(str(d.get('reason')))}")
    out.print(f"[green]wrote[/] {escape(str(md))}, {escape(str(png))}")
    if tracked:
        out.print(f"[green]logged[/] the sweep to MLflow (run {escape(tracked)})")


COMMANDS = [eval_, report, compare]
