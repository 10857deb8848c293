"""The team's eval set as a run sees it: resolved from plan.json, validated, read into rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import _io
from .._io import read_bytes
from ..errors import FtgenError, Problem
from ..facts.datasets import EVAL_MAX_BYTES, inspect_eval


def locate(build_dir: Path) -> tuple[dict, Path]:
    """(plan.json's `eval_set`, the eval file's absolute path); an error when the build has none."""
    plan_path = Path(build_dir) / "plan.json"
    plan = _io.read_json(plan_path)
    spec = plan.get("eval_set") if isinstance(plan, dict) else None
    if not spec:
        raise FtgenError(
            [
                Problem(
                    str(plan_path),
                    "eval_set",
                    "the build has no eval set",
                    allowed="add `eval: {path: ...}` to the spec and run `ftgen build` again",
                )
            ]
        )
    return spec, (Path(build_dir) / spec["path"]).resolve()


def load(path: Path, plan_file: str = "plan.json") -> list[dict]:
    """Validated rows: {"index", "id", "prompt" | "messages", "answers", "tags"}; all problems at once.

    Row problems name the eval file, the line and the field; a missing file names plan_file's eval_set.path.
    """
    _, problems = inspect_eval(str(path), Path(path).parent, plan_file, "eval_set.path")
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise FtgenError(errors)
    text, _ = _io.read_text(path, str(path), EVAL_MAX_BYTES, kind="eval ")
    text = text.removeprefix("\ufeff")  # a .jsonl may start with a byte-order mark (inspect_eval allows it)
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raw = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise FtgenError([Problem(str(path), "", f"not valid JSON: {getattr(exc, 'msg', exc)}")]) from None
    rows = []
    for i, row in enumerate(raw):
        answers = row["answers"] if "answers" in row and "answer" not in row else [row["answer"]]
        item = {"index": i, "id": row.get("id", i), "answers": [str(a) for a in answers], "tags": row.get("tags", [])}
        if "prompt" in row:
            item["prompt"] = row["prompt"]
        else:
            item["messages"] = row["messages"]
        rows.append(item)
    return rows


def sha256(path: Path) -> str:
    return hashlib.sha256(read_bytes(path, str(path), EVAL_MAX_BYTES, kind="eval ")).hexdigest()
