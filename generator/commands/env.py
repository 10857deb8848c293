"""`ftgen env install|list|use` and `ftgen validate`: the managed framework environments."""

from __future__ import annotations

from pathlib import Path

import click

from .._cli_common import EXIT_CODES, FrameworkChoice, escape, handle_errors, out, table
from ..errors import Exit, FtgenError, Problem
from ..frameworks import names as framework_names

_ENV_DIR = click.option(
    "--env-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where managed envs live (default $FTGEN_HOME/envs or ~/.cache/ftgen/envs).",
)


@click.group()
def env():
    """Create, list and choose the framework environments (one virtualenv per framework and version)."""


@env.command("install")
@click.argument("frameworks", nargs=-1, required=True, type=FrameworkChoice("all"))
@click.option(
    "--torch",
    "torch_flavor",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="CPU wheel, CUDA build, or whichever this machine can use.",
)
@click.option("--force", is_flag=True, help="Rebuild even when a healthy env exists.")
@_ENV_DIR
@handle_errors
def env_install(frameworks, torch_flavor, force, env_dir):
    """Create the env for FRAMEWORKS (a framework name, or all)."""
    from .. import envs

    names = framework_names() if "all" in frameworks else frameworks
    for fw in names:

        def progress(i, n, what, fw=fw):
            out.print(f"[cyan]{fw}[/] [{i}/{n}] {escape(what)}")

        e = envs.install(fw, root=env_dir, torch=torch_flavor, force=force, progress=progress)
        out.print(f"[green]ready[/] {fw} {e.version} ({e.torch_flavor}) at {escape(str(e.root))}")


@env.command("list")
@_ENV_DIR
@handle_errors
def env_list(env_dir):
    """Show each env: framework, version, size and health."""
    from .. import envs

    grid = table("framework", "version", "torch", "health", "size MB", "path")
    for info in envs.list_envs(env_dir):
        colour = {"ok": "green", "external": "cyan"}.get(info.health, "red")
        grid.add_row(
            info.framework,
            info.version,
            info.torch_flavor or "",
            f"[{colour}]{info.health}[/]" + (f" {escape(info.detail)}" if info.detail else ""),
            f"{info.size_mb:.0f}" if info.size_mb else "",
            escape(str(info.path)),
        )
    out.print(grid)


@env.command("use")
@click.argument("framework", type=FrameworkChoice())
@click.argument("python", type=click.Path(path_type=Path))
@_ENV_DIR
@handle_errors
def env_use(framework, python, env_dir):
    """Use an existing interpreter where FRAMEWORK is already installed."""
    from .. import envs

    e = envs.use_external(framework, python, env_dir)
    out.print(f"[green]using[/] {framework} {e.version} from {escape(str(e.python))}")


@env.command("bin")
@click.argument("framework", type=FrameworkChoice())
@_ENV_DIR
@handle_errors
def env_bin(framework, env_dir):
    """Print the bin folder of FRAMEWORK's env (launch.sh puts it first on PATH)."""
    from .. import envs

    e = envs.get_env(framework, env_dir)
    if e is None:
        raise FtgenError(
            [
                Problem(
                    "<environment>",
                    framework,
                    "no managed environment for this framework",
                    allowed=f"ftgen env install {framework}",
                )
            ]
        )
    click.echo(str(e.bin_dir))


@click.command(epilog=EXIT_CODES)
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--framework", type=FrameworkChoice(), default=None, help="Only this framework's config.")
@click.option(
    "--require-native",
    is_flag=True,
    help="Exit 1 when a framework's own validator did not judge a config here (no env, or a refusal that is a "
    "fact of this machine rather than of the config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@_ENV_DIR
@handle_errors
def validate(build_dir, framework, require_native, as_json, env_dir):
    """Validate a build folder's configs: ftgen's schema, then the framework's own validator in its env, judged
    for the hardware the plan targets. A refusal that is a fact of this machine (no GPU with bf16, DeepSpeed that
    needs torchrun and GPUs, a package the env lacks) is reported as "not checked here: <reason>", never as a
    config error. Exit 2 when a config is invalid; with --require-native, 1 when a config was not checked here."""
    import json

    from ..validate import validate_build

    report = validate_build(Path(build_dir), framework, env_dir)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        for c in report.configs:
            name = escape(str(c.config))
            out.print(f"[green]schema ok[/] {name}")
            if c.status == "accepted":
                out.print(f"[green]{c.framework} {c.version} accepts[/] {name}{escape(c.judged_for)}")
            elif c.status == "refused":
                for p in c.errors:
                    out.print(f"[red]error[/] {name}: {escape(p.key)}: {escape(p.message)}")
            else:
                out.print(f"[yellow]not checked here[/] {name}: {escape(c.not_checked or '')}")
    if report.refused:
        raise SystemExit(int(Exit.INVALID))
    if require_native and report.not_checked:
        raise SystemExit(int(Exit.FINDINGS))


COMMANDS = [env, validate]
