"""Rewrite the spec reference section of README.md from schemas/spec.schema.json."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator import specdoc  # noqa: E402


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(specdoc.START.split(" (")[0]) + r".*?" + re.escape(specdoc.END), re.S)
    if not pattern.search(text):
        raise SystemExit("README.md has no spec-reference markers")
    readme.write_text(pattern.sub(lambda _m: specdoc.section(), text), encoding="utf-8")
    print("README.md spec reference regenerated")


if __name__ == "__main__":
    main()
