"""The ftgen command line: a thin layer over the library; every command maps errors to exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from . import __version__
from ._cli_common import EXIT_CODES, FrameworkChoice, err, handle_errors, out, table
from .errors import Exit, FtgenError, Problem


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="ftgen")
def main() -> None:
    """ftgen compiles a fine-tuning requirements spec into validated training-framework configs (Axolotl,
    LLaMA-Factory), runs them, and reviews configs in pull requests."""


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_root",
    default="outputs",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder that receives outputs/<name>/.",
)
@click.option(
    "--framework",
    type=FrameworkChoice("both"),
    default=None,
    help="Override the spec's framework choice (both: every framework that runs the task).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan summaries as JSON for machines.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the committed outputs differ (would regenerate).")
@click.option(
    "--diff", is_flag=True, help="With --check, or alone: print a unified diff of what would change; never writes."
)
@handle_errors
def build(specs, out_root, framework, as_json, check, diff):
    """Compile SPEC files into outputs/<name>/ (configs, plan.json, PLAN.md)."""
    from .build import build_file
    from .check import compare
    from .launch import EXECUTABLE
    from .write import write_all

    problems: list[Problem] = []
    builds = []
    for path in specs:
        try:
            builds.append(build_file(path, out_root, framework))
        except FtgenError as exc:
            problems.extend(exc.problems)
    if problems:
        raise FtgenError(problems)
    if check or diff:
        drift = [compare(b) for b in builds]
        dirty = [d for d in drift if not d.clean]
        for d in drift:
            if d.clean:
                out.print(f"[green]ok[/] {escape(str(d.out_dir))} matches {escape(d.spec_file)}")
            else:
                out.print(
                    f"[yellow]would regenerate[/] {escape(str(d.out_dir))} from {escape(d.spec_file)}: "
                    f"{escape(', '.join(d.changed))}"
                )
                if diff:
                    out.print(d.diff, markup=False)
        sys.exit(int(Exit.FINDINGS) if dirty else 0)
    summaries = []
    for b in builds:
        written = write_all(b.out_dir, b.files, executable=EXECUTABLE)
        summaries.append(_summary(b, written))
    if as_json:
        click.echo(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2))
        return
    for s, b in zip(summaries, builds):
        out.print(
            f"[bold green]built[/] {s['name']}: {s['task']} / [bold]{s['method']}[/] -> "
            f"{', '.join(s['framework'])}  ({b.out_dir})"
        )
        for f in b.plan.findings:
            colour = {"warning": "yellow", "info": "cyan"}.get(f.severity, "white")
            out.print(f"  [{colour}]{f.severity}[/] {escape(f'[{f.rule}] {f.key}: {f.message}')}")


def _summary(b, written) -> dict:
    p = b.plan
    return {
        "name": p.name,
        "task": p.task,
        "method": p.method,
        "framework": list(p.frameworks),
        "out_dir": str(b.out_dir),
        "files": [str(w) for w in written],
        "memory_gb": p.memory.total_gb if p.memory else None,
        "hours": p.time_cost.hours if p.time_cost else None,
        "usd": p.time_cost.usd if p.time_cost else None,
        "warnings": [f.to_dict() for f in p.findings],
    }


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_root", default="outputs", show_default=True, type=click.Path(path_type=Path))
@click.option("--diff", is_flag=True, help="Print a unified diff of what would change.")
@click.pass_context
def check(ctx, specs, out_root, diff):
    """Rebuild SPECs in memory and compare with what is committed (same as build --check). Never writes."""
    if not specs:
        specs = tuple(sorted(Path(".").glob("examples/*.yaml")) + sorted(Path(".").glob("specs/*.yaml")))
        if not specs:
            err.print("no specs given and none found in examples/ or specs/")
            sys.exit(int(Exit.INVALID))
    ctx.invoke(build, specs=specs, out_root=out_root, framework=None, as_json=False, check=True, diff=diff)


@main.command("rules")
def list_rules():
    """List every rule: ID, name and what it decides."""
    from . import rules

    grid = table("ID", "Name", "What it decides")
    for r in rules.all_rules():
        grid.add_row(r.id, r.name, r.summary)
    out.print(grid)


@main.command()
@click.argument("rule_id")
@handle_errors
def explain(rule_id):
    """Print one rule's documentation (by ID like FT102 or by name)."""
    from . import rules

    r = rules.get(rule_id)
    if r is None:  # lint rules (FTL###) have their own registry
        from .lint._registry import all_lint_rules, get_lint_rule

        r = get_lint_rule(rule_id)
        if r is None:
            ids = ", ".join([x.id for x in rules.all_rules()] + [x.id for x in all_lint_rules()])
            raise FtgenError([Problem("<command line>", "RULE_ID", "unknown rule", found=rule_id, allowed=ids)])
    out.print(f"[bold]{escape(r.id)} {escape(r.name)}[/]\n")
    out.print(getattr(r, "reference", r.doc), markup=False)


@main.command()
def models():
    """List the model catalog."""
    from . import frameworks
    from .facts.models import load_catalog

    every = frameworks.all_frameworks()
    grid = table("id", "params (B)", "layers", "context", *(f"{fw.label} template" for fw in every))
    for m in load_catalog().values():
        grid.add_row(
            m.id,
            f"{m.params_b:.2f}",
            str(m.layers),
            str(m.max_context),
            *(fw.model_template(m) or "" for fw in every),
        )
    out.print(grid)


@main.command()
def gpus():
    """List the GPU catalog."""
    from .facts.gpus import load_gpus

    grid = table("name", "GB", "bf16", "fp8", "flash-attn", "$/h")
    for g in load_gpus().values():
        grid.add_row(g.name, f"{g.vram_gb:g}", str(g.bf16), str(g.fp8), str(g.flash_attention), f"{g.usd_per_hour:.2f}")
    out.print(grid)


@main.command()
def targets():
    """Print the supported targets table (framework x task x methods)."""
    from .targets import table as target_rows

    grid = table("framework", "task", "methods")
    for row in target_rows():
        grid.add_row(*row)
    out.print(grid)


def _register_commands() -> None:
    """Add the click commands that generator/commands/*.py export in COMMANDS."""
    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
