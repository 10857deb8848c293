"""Regenerate the expected outputs of the data-driven build cases (tests/cases/good/expected/).

Run after an intended change to rules, templates or estimates, then review the diff like any code change:
    python scripts/regen_cases.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.build import build_file  # noqa: E402
from generator.write import write_all  # noqa: E402

CASES = ROOT / "tests" / "cases" / "good"
EXPECTED = CASES / "expected"


def main() -> None:
    specs = sorted(CASES.glob("*.yaml"))
    if EXPECTED.exists():
        shutil.rmtree(EXPECTED)
    for spec in specs:
        b = build_file(spec, EXPECTED)
        write_all(b.out_dir, b.files)
        print(f"{spec.name}: {b.plan.task}/{b.plan.method} -> {', '.join(b.plan.frameworks)}")
    print(f"{len(specs)} cases written to {EXPECTED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
