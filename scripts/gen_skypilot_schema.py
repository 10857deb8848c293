"""Regenerate schemas/skypilot-task.schema.json from SkyPilot's own task and resources schemas.

Run it with an interpreter that has SkyPilot installed (pip install skypilot; ~2.3 min, 460 MB), e.g.
    python3 -m venv /tmp/sky && /tmp/sky/bin/pip install skypilot==0.14.1
    /tmp/sky/bin/python scripts/gen_skypilot_schema.py
SkyPilot validates a task in two steps (sky/task.py: the task schema, then `resources` against the
resources schema); the vendored file nests the resources schema under properties.resources so one
jsonschema validation does both. The SkyPilot version is recorded in the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "schemas" / "skypilot-task.schema.json"


def build() -> dict:
    import sky
    from sky.utils import schemas

    task = schemas.get_task_schema()
    resources = {k: v for k, v in schemas.get_resources_schema().items() if k != "$schema"}
    task["properties"]["resources"] = resources
    return {
        "$comment": f"Vendored from SkyPilot {sky.__version__} (sky.utils.schemas.get_task_schema, with "
        "get_resources_schema nested under properties.resources) by scripts/gen_skypilot_schema.py; "
        "do not edit by hand.",
        "x-skypilot-version": sky.__version__,
        **task,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the vendored file differs")
    args = parser.parse_args(argv)
    try:
        text = json.dumps(build(), indent=2, sort_keys=False) + "\n"
    except ImportError:
        print("SkyPilot is not installed for this interpreter (pip install skypilot)", file=sys.stderr)
        return 2
    if args.check:
        same = OUT.is_file() and OUT.read_text(encoding="utf-8") == text
        print("ok" if same else f"would regenerate {OUT}")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
