"""What each command imports (no timings: benchmarks/cli_speed.py measures them). `ftgen lint` on a valid config
must not import jsonschema, jinja2, rich or the build rules engine, and no command module but its own: re-adding
an eager import at the top of cli.py, generator/lint or what they import fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "data" / "corpus" / "axolotl" / "LiquidAI_lfm2-350m-fft.yaml"
LINT_NEVER = (
    "jsonschema",
    "jinja2",
    "rich",
    "generator.rules",
    "generator.spec",
    "generator.build",
    "generator.plan",
    "generator.facts.models",
    "generator.validate",  # lint needs the schema part only: generator.configschema
    "generator.envs",
    "generator.render",
    "generator.launch",
    "generator._schema_errors",  # a valid config has no error to word
)

_PROBE = """
import json, sys
from generator.cli import main
try:
    main(sys.argv[2:], prog_name="ftgen")
except SystemExit:
    pass
with open(sys.argv[1], "w") as f:
    json.dump(sorted(sys.modules), f)
"""


def imported(tmp_path: Path, *args: str) -> set[str]:
    """The modules a fresh interpreter holds after running `ftgen ARGS`."""
    record = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", _PROBE, str(record), *args], cwd=ROOT, capture_output=True, check=True, timeout=120
    )
    return set(json.loads(record.read_text()))


def _hits(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_lint_imports_no_schema_library_templates_console_or_rules(tmp_path, fmt):
    modules = imported(tmp_path, "lint", "--format", fmt, str(CONFIG))
    assert "generator.lint.rules" in modules  # the probe did lint
    assert "generator.configschema" in modules  # the schema part of validation, alone
    assert not _hits(modules, LINT_NEVER)
    others = {f"generator.commands.{m}" for m in ("runs", "evaluate", "env", "tiny", "estimate")}
    assert not modules & others, "lint loads only the module that defines it"


def test_lint_of_a_config_with_a_schema_error_still_words_it(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.read_text().replace("learning_rate: 5e-5", "learning_rate: [1]"))
    modules = imported(tmp_path, "lint", "--format", "json", str(bad))
    assert "jsonschema" in modules  # jsonschema words the errors of an invalid config, only then
    assert not _hits(modules, ("jinja2", "rich", "generator.rules"))


def test_every_lazy_command_is_defined_by_its_module():
    import importlib

    from generator.cli import LAZY_COMMANDS

    for name, module in LAZY_COMMANDS.items():
        commands = importlib.import_module(f"generator.commands.{module}").COMMANDS
        assert name in {c.name for c in commands}, f"{name} is not in generator/commands/{module}.py"


def test_help_lists_every_command_module(cli):
    import importlib
    import pkgutil

    from generator import commands

    listing = cli("--help").output
    for info in pkgutil.iter_modules(commands.__path__):
        for command in importlib.import_module(f"generator.commands.{info.name}").COMMANDS:
            assert command.name in listing


def test_estimate_writes_no_files_so_imports_no_launch_code(tmp_path):
    spec = ROOT / "examples" / "support-bot.yaml"
    modules = imported(tmp_path, "estimate", "--json", str(spec))
    assert "generator.rules" in modules  # the probe did estimate
    assert not _hits(modules, ("jsonschema", "generator.launch", "generator.commands.review"))


def test_estimate_printing_to_a_pipe_imports_no_console_library(tmp_path):
    """estimate's table goes to a pipe as plain columns, written without rich (a terminal gets rich's table)."""
    modules = imported(tmp_path, "estimate", str(ROOT / "examples" / "support-bot.yaml"))
    assert "generator.rules" in modules
    assert not _hits(modules, ("rich", "jsonschema", "generator.launch"))


def test_build_printing_to_a_pipe_imports_no_console_library_or_schema_library(tmp_path):
    """What build prints to a pipe is written without rich (generator/_cli_common.py); the spec is checked by the
    fast schema path, without jsonschema; lint's own modules stay out."""
    spec = ROOT / "examples" / "support-bot.yaml"
    modules = imported(tmp_path, "build", str(spec), "--out", str(tmp_path / "out"))
    assert "generator.render" in modules and (tmp_path / "out" / "support-bot" / "plan.json").is_file()
    assert not _hits(modules, ("rich", "jsonschema", "difflib", "generator.lint", "generator.commands.review"))


def test_lint_reads_the_catalogs_through_the_data_cache_and_imports_no_difflib_or_tempfile(tmp_path):
    modules = imported(tmp_path, "lint", str(CONFIG))
    assert "generator._datacache" in modules  # the catalogs come through the data cache
    assert not _hits(modules, ("difflib", "tempfile"))
