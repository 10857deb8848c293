"""The ftgen command line: a thin layer over the library; every command maps errors to exit codes."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from . import __version__, _classcache

_classcache.install()  # before the first record class: ftgen's own modules below define them

from ._cli_common import EXIT_CODES, Column, FrameworkChoice, err, escape, handle_errors, listing, out  # noqa: E402
from .errors import Exit, FtgenError, Problem  # noqa: E402

# Commands that generator/commands/*.py define, by name -> module: `ftgen lint` imports only commands/review.py.
# A command missing here still works (every module is imported to find it), only its start is slower.
LAZY_COMMANDS = {
    "lint": "review",
    "convert": "review",
    "review": "review",
    "estimate": "estimate",
    "run": "runs",
    "runs": "runs",
    "show": "runs",
    "stop": "runs",
    "export": "runs",
    "eval": "evaluate",
    "report": "evaluate",
    "compare": "evaluate",
    "env": "env",
    "validate": "env",
    "tiny-model": "tiny",
}


class _LazyGroup(click.Group):
    """Imports a command's module when the command is asked for (each module exports COMMANDS)."""

    _loaded: set[str] = set()

    def _load(self, module_name: str) -> None:
        if module_name in self._loaded:
            return
        self._loaded.add(module_name)
        module = importlib.import_module(f"{__package__}.commands.{module_name}")
        for command in getattr(module, "COMMANDS", ()):
            self.add_command(command)

    def _load_all(self) -> None:
        import pkgutil

        from . import commands

        for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                self._load(info.name)

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands:
            if cmd_name in LAZY_COMMANDS:
                self._load(LAZY_COMMANDS[cmd_name])
            if cmd_name not in self.commands:
                self._load_all()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        self._load_all()
        return super().list_commands(ctx)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EXIT_CODES,
)
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the plan summaries as JSON for machines (an invalid spec: {ok: false, problems: [...]}, exit 2).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the committed outputs differ (would regenerate).")
@click.option(
    "--diff", is_flag=True, help="With --check, or alone: print a unified diff of what would change; never writes."
)
@click.option(
    "--refresh",
    is_flag=True,
    help="Resolve a hub base model again (HF cache, then the hub) instead of reading the spec's lock file, "
    "and rewrite the lock.",
)
@handle_errors
def build(specs, out_root, framework, as_json, check, diff, refresh=False):
    """Compile SPEC files into outputs/<name>/ (configs, plan.json, PLAN.md).

    A base model outside the catalog is read from the spec's lock file (<spec>.lock.json), else from the
    Hugging Face cache or the hub, and the lock is written: commit it. --check and --diff read only the lock.
    Files a previous build of the same spec wrote and this one does not (listed in its plan.json) are removed.
    """
    from .build import build_file, duplicate_names, write_build
    from .launch import EXECUTABLE

    readonly = check or diff
    if readonly and refresh:
        raise FtgenError(
            [Problem("<command line>", "--refresh", "--check and --diff never write", allowed="drop --refresh")]
        )
    problems: list[Problem] = []
    builds = []
    for path in specs:
        try:
            builds.append(build_file(path, out_root, framework, frozen=readonly, refresh=refresh))
        except FtgenError as exc:
            problems.extend(exc.problems)
    problems.extend(duplicate_names(builds))
    if problems:
        if as_json:
            click.echo(json.dumps({"ok": False, "problems": [p.to_dict() for p in problems]}, indent=2))
        raise FtgenError(problems)
    if check or diff:
        from .check import compare

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
                out.print(f"  [cyan]why[/] {escape(d.cause)}")
                if diff:
                    out.print(d.diff, markup=False)
        sys.exit(int(Exit.FINDINGS) if dirty else 0)
    summaries = []
    for b in builds:
        written, removed = write_build(b, executable=EXECUTABLE)
        summaries.append(_summary(b, written, removed))
    if as_json:
        click.echo(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2))
        return
    for s, b in zip(summaries, builds):
        lock = b.facts.lock
        if lock is not None and str(lock.path) in s["files"]:
            e = lock.entry
            where = "the Hugging Face cache" if e.resolved_from == "cache" else "the hub"
            out.print(
                f"[bold green]locked[/] {escape(e.id)} at {e.revision[:12]} (from {where}) in "
                f"{escape(str(lock.path))}: commit it with the spec"
            )
        out.print(
            f"[bold green]built[/] {escape(s['name'])}: {s['task']} / [bold]{s['method']}[/] -> "
            f"{', '.join(s['framework'])}  ({escape(str(b.out_dir))})"
        )
        if s.get("sweep"):
            _print_sweep(s["sweep"])
        for r in s["removed"]:
            out.print(f"  [cyan]removed[/] {escape(r)} (a previous build wrote it; this one does not)")
        for f in b.plan.findings:
            colour = {"warning": "yellow", "info": "cyan"}.get(f.severity, "white")
            out.print(f"  [{colour}]{f.severity}[/] {escape(f'[{f.rule}] {f.key}: {f.message}')}")


def _print_sweep(sw: dict) -> None:
    """The sweep a build wrote: its trials with their estimates, the dropped ones with why, the total."""
    total = sw["total"]
    cost = f", ~${total['usd']:.2f}" if total.get("usd") is not None else " (no price for this hardware)"
    out.print(
        f"  [bold]sweep[/] {sw['method']} over {', '.join(sw['parameters'])}: {total['trials']} trial(s), "
        f"~{total['hours']:.2f} h in all{cost}, ranked by {sw['metric']} ({sw['goal']})"
    )
    for t in sw["trials"]:
        usd = f", ~${t['usd']:.2f}" if t.get("usd") is not None else ""
        out.print(f"    {escape(t['id'])}: {t['method']}, ~{t['hours']} h{usd}")
    for d in sw["dropped"]:
        out.print(f"    [yellow]dropped[/] {escape(d['id'])}: {escape(d['reason'])}")


def _summary(b, written, removed=()) -> dict:
    p = b.plan
    sweep = json.loads(b.files["sweep.json"]) if "sweep.json" in b.files else None
    return {
        "name": p.name,
        "task": p.task,
        "method": p.method,
        "framework": list(p.frameworks),
        "out_dir": str(b.out_dir),
        "files": [str(w) for w in written],
        "removed": [str(r) for r in removed],
        "memory_gb": p.memory.total_gb if p.memory else None,
        "hours": p.time_cost.hours if p.time_cost else None,
        "usd": p.time_cost.usd if p.time_cost else None,
        "warnings": [f.to_dict() for f in p.findings],
        **({"sweep": sweep} if sweep is not None else {}),
    }


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_root", default="outputs", show_default=True, type=click.Path(path_type=Path))
@click.option("--diff", is_flag=True, help="Print a unified diff of what would change.")
@click.pass_context
def check(ctx, specs, out_root, diff):
    """Rebuild SPECs in memory and compare with what is committed (same as build --check). Never writes.

    A hub base model is read from the spec's committed lock file only (never this machine's HF cache or the
    hub), so the answer is the same on a laptop, a GPU box and CI; without a lock entry it is an error that
    says to run `ftgen build SPEC` and commit the lock.
    """
    if not specs:
        from .build import default_specs

        specs = default_specs()
        if not specs:
            err.print("no specs given and none found in examples/ or specs/")
            sys.exit(int(Exit.INVALID))
    ctx.invoke(
        build, specs=specs, out_root=out_root, framework=None, as_json=False, check=True, diff=diff, refresh=False
    )


@main.command("rules")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
def list_rules(as_json):
    """List every rule: ID, name and what it decides."""
    from . import rules

    columns = [Column("id", "ID"), Column("name", "Name"), Column("summary", "What it decides")]
    listing(columns, ({"id": r.id, "name": r.name, "summary": r.summary} for r in rules.all_rules()), as_json=as_json)


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
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def models(as_json):
    """List the model catalog. Any other hub model works too: ftgen reads its config.json from the Hugging Face
    cache or the hub and locks it beside the spec (README: Base models)."""
    from . import frameworks
    from .facts.models import load_catalog

    every = frameworks.all_frameworks()
    columns = [
        Column("id", "id"),
        Column("params_b", "params (B)", lambda v: f"{v:.2f}"),
        Column("layers", "layers"),
        Column("max_context", "context"),
        *(Column(f"{fw.name}_template", f"{fw.label} template") for fw in every),
    ]
    rows = (
        {
            "id": m.id,
            "params_b": m.params_b,
            "layers": m.layers,
            "max_context": m.max_context,
            **{f"{fw.name}_template": fw.model_template(m) or "" for fw in every},
        }
        for m in load_catalog().values()
    )
    listing(columns, rows, as_json=as_json)


@main.command()
@click.option("--detect", is_flag=True, help="Print this machine's GPUs (nvidia-smi) by catalog name, for the spec.")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def gpus(detect, as_json):
    """List the GPU catalog (prices and their sources: generator/catalog/gpus.yaml)."""
    if detect:
        from .facts.detect import detect as find_local
        from .facts.detect import report

        out.print(report(*find_local()), markup=False, highlight=False)
        return
    from .facts.gpus import ambiguous_names, load_gpus

    columns = [
        Column("name", "name"),
        Column("vram_gb", "GB", lambda v: f"{v:g}"),
        Column("arch", "arch"),
        Column("bf16", "bf16"),
        Column("fp8", "fp8"),
        Column("flash_attention", "flash-attn"),
        Column("usd_per_hour", "$/h", lambda v: "n/a" if v is None else f"{v:.2f}"),
        Column("note", "note"),
    ]
    rows = [
        {
            "name": g.name,
            "vram_gb": g.vram_gb,
            "arch": g.arch,
            "bf16": g.bf16,
            "fp8": g.fp8,
            "flash_attention": g.flash_attention,
            "usd_per_hour": g.usd_per_hour if g.usd_per_hour or g.is_cpu else None,
            "note": "unsupported (see catalog)" if g.unsupported else g.note,
        }
        for g in load_gpus().values()
    ]
    listing(columns, rows, as_json=as_json)
    if not as_json:  # prose after the table: on the terminal, or on stderr so a pipe gets only the table
        names = ", ".join(f"{a.name} ({' / '.join(a.choices)})" for a in ambiguous_names().values())
        (out if out.is_terminal else err).print(f"Ambiguous, name the memory: {names}", markup=False, highlight=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def targets(as_json):
    """Print the supported targets (framework x task x method) and what proves each: the e2e test that trains it
    on a tiny model, or why no run proves it here."""
    from .targets import proof_table

    names = ("framework", "task", "method", "proof")
    columns = [Column(n, n) for n in names]
    listing(columns, (dict(zip(names, row)) for row in proof_table()), as_json=as_json)


if __name__ == "__main__":  # pragma: no cover
    main()
