"""`ftgen lint`, `ftgen convert` and `ftgen review`: configs in pull requests (`ftgen check` lives in cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._cli_common import EXIT_CODES, Column, FrameworkChoice, err, escape, handle_errors, listing, out
from ..errors import Exit, FtgenError, Problem


def _hardware(gpu: str | None, gpus: int):
    if gpu is None:
        if gpus != 1:
            raise FtgenError([Problem("<command line>", "--gpus", "--gpus needs --gpu", gpus, "--gpu NAME")])
        return None
    from ..facts.gpus import lookup_gpu
    from ..lint import Hardware

    return Hardware(lookup_gpu(gpu, None, "<command line>", "--gpu"), gpus)


@click.command(epilog=EXIT_CODES)
@click.argument("configs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--framework",
    type=FrameworkChoice(),
    default=None,
    help="Treat every config as this framework's (default: detected from the keys).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: file:line lines; json: for bots; github: ::error annotations for Actions.",
)
@click.option(
    "--gpu",
    default=None,
    help="The GPU the configs are for (catalog name, `ftgen gpus`): enables the bf16 and memory-fit rules.",
)
@click.option("--gpus", default=1, show_default=True, type=click.IntRange(1), help="GPUs in total.")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info", "never"]),
    default="error",
    show_default=True,
    help="Lowest severity that makes the exit code 1.",
)
@click.option(
    "--skip-unknown",
    is_flag=True,
    help="Skip YAML files that are not Axolotl / LLaMA-Factory configs (specs, CI files) instead of "
    "reporting them (for pre-commit hooks over every YAML file).",
)
@click.option("--rules", "list_rules", is_flag=True, help="List the lint rules (FTL###) and exit.")
@click.option(
    "--explain",
    "explain_rule",
    metavar="RULE",
    default=None,
    help="Print one lint rule's documentation (FTL101 or its name) and exit.",
)
@handle_errors
def lint(configs, framework, fmt, gpu, gpus, fail_on, skip_unknown, list_rules, explain_rule):
    """Lint hand-written Axolotl / LLaMA-Factory CONFIGS (files or folders): unknown, mistyped, deprecated and
    other-version keys, and domain rules (FTL###). Exit 1 when a finding reaches --fail-on, 2 when a file is not
    a readable config."""
    from ..lint import _output, all_lint_rules, lint_paths

    if explain_rule:
        from ..lint import get_lint_rule

        rule = get_lint_rule(explain_rule)
        if rule is None:
            ids = ", ".join(r.id for r in all_lint_rules())
            raise FtgenError([Problem("<command line>", "--explain", "unknown lint rule", explain_rule, ids)])
        out.print(f"[bold]{rule.id} {rule.name}[/] ({rule.severity})\n")
        out.print(rule.doc, markup=False)
        return
    if list_rules:
        columns = [
            Column("id", "ID"),
            Column("name", "Name"),
            Column("severity", "Severity"),
            Column("summary", "What it checks"),
        ]
        rows = ({"id": r.id, "name": r.name, "severity": r.severity, "summary": r.summary} for r in all_lint_rules())
        listing(columns, rows, as_json=fmt == "json")
        return
    if not configs:
        raise FtgenError(
            [Problem("<command line>", "CONFIGS", "no config given", allowed="one or more files or folders")]
        )
    missing = [str(p) for p in configs if not p.exists()]
    if missing:
        raise FtgenError([Problem(m, "", "file not found") for m in missing])
    results = lint_paths(configs, framework, _hardware(gpu, gpus))
    if skip_unknown:
        results = [r for r in results if r.framework is not None or r.detected == "unreadable"]
    if fmt == "json":
        click.echo(_output.as_json(results), nl=False)
    elif fmt == "github":
        click.echo(_output.github(results), nl=False)
        err.print(_output.summary(results), markup=False)
    else:
        click.echo(_output.text(results), nl=False)
    sys.exit(_output.exit_code(results, fail_on))


@click.command(epilog=EXIT_CODES)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--to", "target", required=True, type=FrameworkChoice(), help="The framework to convert to.")
@click.option(
    "--framework",
    "source",
    type=FrameworkChoice(),
    default=None,
    help="The config's own framework (default: detected).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the converted config here (and dataset_info.json beside it when needed); default: stdout.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the conversion report as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 when anything could not be translated.")
@handle_errors
def convert(config, target, source, output, as_json, strict):
    """Convert CONFIG to the other framework through the framework-neutral plan fields. Everything that does not
    translate is listed (in the output's header and on stderr), never dropped silently."""
    import json

    from ..convert import convert_file
    from ..write import write_all

    conv = convert_file(config, target, source, out=output.parent if output is not None else None)
    if as_json:
        click.echo(json.dumps(conv.to_dict(), indent=2, ensure_ascii=False, default=str))
    elif output is not None:
        files = {output.name: conv.text, **conv.extra_files}
        written = write_all(output.parent, files)
        for w in written:
            err.print(f"[green]wrote[/] {escape(str(w))}")
    else:
        click.echo(conv.text, nl=False)
        for name, text in conv.extra_files.items():
            err.print(f"[cyan]{escape(name)}[/] (write it beside the config; -o does):")
            click.echo(text, err=True, nl=False)
    if conv.untranslated and not as_json:
        err.print(f"[yellow]{len(conv.untranslated)} key(s) not translated[/] (listed in the output's header):")
        for p in conv.untranslated:
            err.print(f"  {escape(p.key)}: {escape(p.message)}")
    sys.exit(int(Exit.FINDINGS) if strict and conv.untranslated else 0)


@click.command(epilog=EXIT_CODES)
@click.option("--base", required=True, help="The git ref the pull request starts from (e.g. origin/main).")
@click.option("--head", default=None, help="The git ref to review (default: the working tree).")
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="A folder inside the git repository.",
)
@click.option("--out", "out_root", default="outputs", show_default=True, help="Where build outputs live.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the report to this file instead of stdout.",
)
@handle_errors
def review(base, head, repo, out_root, fmt, output):
    """Review what changed between two git refs: decisions that changed (rule IDs, reasons before and after),
    memory / time / cost deltas, new warnings, validity of each framework config, lint of changed hand-written
    configs. Markdown for a PR comment, JSON for bots. Never writes to the repository. Exit 1 when something needs
    attention (a spec that does not compile, outputs that would regenerate, lint errors)."""
    from .. import review as rv

    result = rv.review(repo, base, head, out_root)
    text = rv.markdown(result) if fmt == "markdown" else rv.as_json(result)
    if output is not None:
        from ..write import atomic_write

        try:
            atomic_write(output, text)
        except OSError as exc:
            raise FtgenError(
                [
                    Problem(
                        str(output),
                        "--output",
                        f"cannot write the review: {exc.strerror or exc}",
                        allowed="a writable file path (or no -o: stdout)",
                    )
                ]
            ) from None
        err.print(f"[green]wrote[/] {escape(str(output))}")
    else:
        click.echo(text, nl=False)
    sys.exit(0 if result.ok else int(Exit.FINDINGS))


COMMANDS = [lint, convert, review]
