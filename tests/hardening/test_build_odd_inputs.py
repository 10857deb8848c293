"""Odd builds from the new-user trial (issue 12, item 9): duplicate names, a narrowed framework choice, --json
on an invalid spec, catalog tables in a pipe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "support-bot.yaml"


def _copy_example(tmp_path: Path, name: str = "support-bot.yaml") -> Path:
    """support-bot.yaml (framework: both) with its data, in a temp folder."""
    shutil.copytree(REPO / "examples" / "data", tmp_path / "data")
    spec = tmp_path / name
    spec.write_text(EXAMPLE.read_text())
    assert "framework: both" in spec.read_text()
    return spec


def test_two_specs_with_the_same_name_are_refused(tmp_path, cli):
    a = _copy_example(tmp_path, "a.yaml")
    b = tmp_path / "b.yaml"
    b.write_text(a.read_text().replace("framework: both", "framework: axolotl"))  # a copy, its name kept
    out = tmp_path / "out"
    result = cli("build", str(a), str(b), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "same name" in result.output and "b.yaml" in result.output
    assert not out.exists(), "nothing is written when the build is refused"
    as_json = cli("build", str(a), str(b), "--out", str(out), "--json")
    assert as_json.exit_code == 2
    payload = json.loads(as_json.output[: as_json.output.rindex("}") + 1])
    assert payload["ok"] is False and payload["problems"][0]["key"] == "name"
    check = cli("check", str(a), str(b), "--out", str(out))
    assert check.exit_code == 2 and "same name" in check.output


def test_a_narrower_build_removes_what_the_wider_one_wrote_and_check_agrees(tmp_path, cli):
    spec = _copy_example(tmp_path)
    out = tmp_path / "out"
    both = cli("build", str(spec), "--out", str(out))
    assert both.exit_code == 0, both.output
    folder = out / "support-bot"
    assert (folder / "llamafactory.yaml").is_file() and (folder / "dataset_info.json").is_file()
    (folder / "notes.md").write_text("the team's own file\n")  # never ftgen's: never removed
    (folder / "runs").mkdir()
    narrow = cli("build", str(spec), "--out", str(out), "--framework", "axolotl")
    assert narrow.exit_code == 0, narrow.output
    assert "removed" in narrow.output
    assert not (folder / "llamafactory.yaml").exists() and not (folder / "dataset_info.json").exists()
    assert (folder / "notes.md").is_file() and (folder / "runs").is_dir() and (folder / "axolotl.yaml").is_file()
    # the committed outputs now match a narrowed build: no drift forever
    spec.write_text(spec.read_text().replace("framework: both", "framework: axolotl"))
    built = cli("build", str(spec), "--out", str(out))
    assert built.exit_code == 0, built.output
    check = cli("check", str(spec), "--out", str(out))
    assert check.exit_code == 0, check.output


def test_check_reports_a_file_the_build_would_remove(tmp_path, cli):
    spec = _copy_example(tmp_path)
    out = tmp_path / "out"
    assert cli("build", str(spec), "--out", str(out)).exit_code == 0
    spec.write_text(spec.read_text().replace("framework: both", "framework: axolotl"))
    check = cli("check", str(spec), "--out", str(out))
    assert check.exit_code == 1, check.output
    assert "llamafactory.yaml (would be removed)" in check.output
    diff = cli("build", str(spec), "--out", str(out), "--check", "--diff")
    assert "would be removed" in diff.output and (out / "support-bot" / "llamafactory.yaml").is_file(), (
        "--check writes nothing"
    )


def test_an_old_plan_without_a_file_list_still_gets_its_stale_config_removed(tmp_path, cli):
    spec = _copy_example(tmp_path)
    out = tmp_path / "out"
    assert cli("build", str(spec), "--out", str(out)).exit_code == 0
    plan_path = out / "support-bot" / "plan.json"
    plan = json.loads(plan_path.read_text())
    del plan["files"]  # as ftgen 0.1.0 wrote it
    plan_path.write_text(json.dumps(plan))
    assert cli("build", str(spec), "--out", str(out), "--framework", "axolotl").exit_code == 0
    assert not (out / "support-bot" / "llamafactory.yaml").exists()


def test_a_plan_listing_paths_outside_its_folder_removes_nothing_outside(tmp_path, cli):
    spec = _copy_example(tmp_path)
    out = tmp_path / "out"
    assert cli("build", str(spec), "--out", str(out)).exit_code == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    plan_path = out / "support-bot" / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["files"] += ["../../victim.txt", str(victim), "/etc/hostname", "runs"]
    plan_path.write_text(json.dumps(plan))
    assert cli("build", str(spec), "--out", str(out)).exit_code == 0
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize(
    "spec_text",
    [
        "name: x\nbase_model: m\n",  # data missing
        "- a list\n",
        "name: [unclosed\n",
    ],
)
def test_build_json_on_an_invalid_spec_prints_the_problems_as_json(tmp_path, cli, spec_text):
    spec = tmp_path / "bad.yaml"
    spec.write_text(spec_text)
    result = cli("build", str(spec), "--json", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    payload = json.loads(result.output[: result.output.rindex("}") + 1])
    assert payload["ok"] is False and payload["problems"]
    assert all(p["file"] == str(spec) for p in payload["problems"])


@pytest.mark.parametrize("command", ["models", "gpus", "rules", "targets"])
def test_catalog_tables_never_wrap_mid_value_in_a_pipe_and_have_json(cli, command):
    plain = cli(command)
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.rstrip("\n").splitlines()  # a note after the table goes to stderr in a pipe
    as_json = cli(command, "--json")
    rows = json.loads(as_json.stdout)
    assert len(lines) == len(rows) + 1, "one line per row plus the header: nothing wrapped"
    first_key = next(iter(rows[0]))
    for line, row in zip(lines[1:], rows):
        assert line.startswith(str(row[first_key])), (line, row)
    assert all(isinstance(r, dict) for r in rows)


def test_runs_table_in_a_pipe_is_one_line_per_run(tmp_path, cli):
    root = tmp_path / "outputs"
    for i in range(3):
        d = root / "job-with-a-long-name-that-would-wrap" / "runs" / f"20250101-00000{i}-ax-abcd"
        d.mkdir(parents=True)
        (d / "run.json").write_text(
            json.dumps(
                {
                    "run_id": d.name,
                    "name": "job-with-a-long-name-that-would-wrap",
                    "framework": "axolotl",
                    "path": str(d),
                    "status": "succeeded",
                    "started_at": "2025-01-01T00:00:00Z",
                    "host": "h",
                }
            )
        )
    result = cli("runs", str(root))
    lines = result.output.rstrip("\n").splitlines()
    assert len(lines) == 4 and all("job-with-a-long-name-that-would-wrap" in line for line in lines[1:])


@pytest.mark.parametrize("width", [40, 200])
def test_a_terminal_table_never_folds_a_value(width):
    import io

    from rich.console import Console

    from generator._cli_common import Column, listing

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width, emoji=False, color_system=None)
    rows = [{"id": "20250101-000000-ll-a-long-run-identifier", "status": ":x: [bold]broken"}]
    listing([Column("id", "run"), Column("status", "status")], rows, console=console)
    text = buf.getvalue()
    assert "20250101-000000-ll-a-long-run-identifier" in text, text  # in one piece, whatever the width
    assert ":x: [bold]broken" in text
