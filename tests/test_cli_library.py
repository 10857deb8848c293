"""What the CLI decides is a library function the CLI calls: the eval-set requirement of `ftgen run` and the
specs `ftgen check` reads by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.build import default_specs
from generator.errors import FtgenError
from generator.run import require_eval_set


def test_default_specs_are_examples_then_specs_sorted(tmp_path):
    for name in ("examples/b.yaml", "examples/a.yaml", "specs/c.yaml", "specs/notes.md", "other/d.yaml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("name: x\n")
    found = [p.relative_to(tmp_path).as_posix() for p in default_specs(tmp_path)]
    assert found == ["examples/a.yaml", "examples/b.yaml", "specs/c.yaml"]
    assert default_specs(tmp_path / "empty") == ()


def test_check_without_specs_uses_default_specs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli("check")
    assert res.exit_code == 2 and "none found in examples/ or specs/" in res.output


@pytest.mark.parametrize(
    "plan,refused",
    [
        ({"facts": {"eval": {"path": "eval.jsonl", "rows": 300}}}, False),
        ({"facts": {"eval": None}}, True),
        ({"facts": {}}, True),
        ([], True),
    ],
)
def test_require_eval_set(tmp_path, plan, refused):
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    if refused:
        with pytest.raises(FtgenError) as exc:
            require_eval_set(tmp_path)
        assert exc.value.problems[0].key == "eval" and "--without-eval-set" in exc.value.problems[0].message
    else:
        require_eval_set(tmp_path)


def test_require_eval_set_leaves_a_folder_without_plan_to_start(tmp_path):
    require_eval_set(Path(tmp_path))  # start() says what is missing
