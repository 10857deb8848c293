"""`ftgen estimate SPEC`: the per-component GPU memory table and the time and cost estimate, without writing."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .._cli_common import escape, handle_errors, out, plain_columns, plain_output, table


@click.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print memory and time/cost as JSON.")
@handle_errors
def estimate(spec, as_json):
    """Print the plan's GPU memory per component, total against the GPU, and the time and cost estimate."""
    from ..build import build_file

    b = build_file(spec, Path("outputs"), files=False)  # the plan and validated configs; no launch files
    plan, gpu = b.plan, b.facts.gpu
    sweep = None
    if b.spec.sweep is not None:  # every trial through the rules: what each costs, which are dropped and why
        from .. import sweep as sweep_mod

        outcome = sweep_mod.compile_trials(b.spec, b.out_dir, None, frozen=False, refresh=False)
        sweep = json.loads(sweep_mod.sweep_json(b.spec, outcome))
    if as_json:
        memory = plan.memory.to_dict() if plan.memory else {}
        time_cost = plan.time_cost.to_dict() if plan.time_cost else {}
        data = {"method": plan.method, "memory": memory, "time_cost": time_cost}
        click.echo(json.dumps(data | ({"sweep": sweep} if sweep else {}), indent=2))
        return
    out.print(
        f"[bold]{escape(plan.name)}[/]: {plan.task} / [bold]{plan.method}[/] on "
        f"{b.spec.hardware.world_size} x {escape(gpu.name)} ({gpu.vram_gb:g} GB)"
    )
    memory = plan.memory.to_dict() if plan.memory else {}
    rows = [(name, f"{gb:.2f}") for name, gb in memory.get("components", {}).items()]
    rows.append(("total", f"{memory.get('total_gb', 0):.2f}"))
    if memory.get("high_gb") is not None:
        rows.append(("measured runs land in", f"{memory['low_gb']:.2f} - {memory['high_gb']:.2f}"))
    if memory.get("fit_margin") is not None:
        margin = memory["fit_margin"]
        rows.append((f"usable ({margin:.0%})", f"{gpu.vram_gb * margin:.2f}"))
    header = ("component", "GiB per GPU")
    if plain_output():  # a pipe or a file: plain columns, as the listings write them (and without rich)
        click.echo(plain_columns(header, rows), nl=False)
    else:
        grid = table(*header)
        for name, value in rows:
            bold = name == "total"
            grid.add_row(*(f"[bold]{escape(v)}[/]" if bold else escape(v) for v in (name, value)))
        out.print(grid)
    for note in memory.get("notes", []):
        out.print(f"  - {escape(note)}")
    tc = plan.time_cost.to_dict() if plan.time_cost else {}
    if tc:
        usd = tc.get("usd")
        usd = "" if usd is None else f", ~${usd:,.2f}" if usd < 100 else f", ~${usd:,.0f}"
        out.print(
            f"time: ~{tc['hours']:.1f} h{usd} ({tc.get('steps', '?')} steps, "
            f"{tc.get('tokens_per_second', 0):,.0f} tokens/s across the cluster)"
        )
        for a in tc.get("assumptions", []):
            out.print(f"  - {escape(a)}")
    if sweep:
        from ..cli import _print_sweep

        _print_sweep(sweep)


COMMANDS = [estimate]
