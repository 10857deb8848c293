"""`ftgen env install|list|use` and `ftgen validate`: the managed framework environments."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .._cli_common import handle_errors, out, table
from ..errors import Exit, FtgenError, Problem

FRAMEWORKS = ("axolotl", "llamafactory")
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
@click.argument("frameworks", nargs=-1, required=True, type=click.Choice(FRAMEWORKS + ("all",)))
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
    """Create the env for FRAMEWORKS (axolotl, llamafactory or all)."""
    from .. import envs

    names = FRAMEWORKS if "all" in frameworks else frameworks
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
@click.argument("framework", type=click.Choice(FRAMEWORKS))
@click.argument("python", type=click.Path(path_type=Path))
@_ENV_DIR
@handle_errors
def env_use(framework, python, env_dir):
    """Use an existing interpreter where FRAMEWORK is already installed."""
    from .. import envs

    e = envs.use_external(framework, python, env_dir)
    out.print(f"[green]using[/] {framework} {e.version} from {escape(str(e.python))}")


@env.command("bin")
@click.argument("framework", type=click.Choice(FRAMEWORKS))
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


@click.command()
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--framework", type=click.Choice(FRAMEWORKS), default=None)
@_ENV_DIR
@handle_errors
def validate(build_dir, framework, env_dir):
    """Validate a build folder's configs: ftgen's schema, then the framework's own validator in its env."""

    from .. import _io, envs
    from ..render import CONFIG_NAME
    from ..run import prepare, run_config

    plan_path = Path(build_dir) / "plan.json"
    plan = _io.read_json(plan_path) if plan_path.is_file() else {}
    plan = plan if isinstance(plan, dict) else {}
    names = [framework] if framework else plan.get("framework") or []
    if not names:
        raise FtgenError([Problem(str(build_dir), "", "not an ftgen build folder (no plan.json)")])
    failed = False
    for fw in names:
        prep = prepare(build_dir, fw)  # raises on schema errors
        out.print(f"[green]schema ok[/] {escape(str(prep.config_path))}")
        e = envs.get_env(fw, env_dir)
        if e is None:
            out.print(f"[yellow]skipped[/] {fw}'s own validator: no env (ftgen env install {fw})")
            continue
        import tempfile

        from ..render._yamlsafe import yaml_document
        from ..validate import native_validate

        with tempfile.TemporaryDirectory() as tmp:
            cfg = run_config(prep, Path(tmp))
            resolved = Path(tmp) / CONFIG_NAME[fw]
            resolved.write_text(yaml_document(cfg))
            problems = native_validate(fw, resolved, e)
        if problems:
            failed = True
            for p in problems:
                out.print(f"[red]error[/] {escape(str(prep.config_path))}: {escape(p.key)}: {escape(p.message)}")
        else:
            out.print(f"[green]{fw} {e.version} accepts[/] {escape(str(prep.config_path))}")
    if failed:
        raise SystemExit(int(Exit.INVALID))


COMMANDS = [env, validate]
