"""Read progress from a framework's output: tqdm step counters and the loss dicts HF Trainer prints."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_TQDM = re.compile(r"(\d+)/(\d+) \[[^\]]*\]")
_DICT = re.compile(r"\{[^{}]*'(?:loss|eval_loss)'[^{}]*\}")


def _number(value, default):
    """Axolotl logs numbers as strings ('5.691'); HF Trainer as floats."""
    try:
        return float(value) if value is not None and not isinstance(value, bool) else default
    except (TypeError, ValueError):
        return default


@dataclass
class Progress:
    step: int = 0
    total: int | None = None
    loss: float | None = None
    eval_loss: float | None = None

    def feed(self, line: str) -> bool:
        """Update from one output line; True when it was a progress-only line (tqdm)."""
        m = _DICT.search(line)
        if m:
            try:
                data = ast.literal_eval(m.group(0))
            except (ValueError, SyntaxError):
                data = {}
            self.loss = _number(data.get("loss"), self.loss)
            self.eval_loss = _number(data.get("eval_loss"), self.eval_loss)
            return False
        m = _TQDM.search(line)
        if m and "%|" in line and "examples" in line:
            return True  # a datasets map/tokenise bar ("400/400 [..., 1234 examples/s]"), not training steps
        if m and "%|" in line:
            step, total = int(m.group(1)), int(m.group(2))
            # the eval loop has its own, shorter tqdm bar: follow the bar with the largest total
            if self.total is None or total > self.total:
                self.total, self.step = total, step
            elif total == self.total:
                self.step = step
            return True
        return False

    def describe(self) -> str:
        parts = []
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.eval_loss is not None:
            parts.append(f"eval_loss {self.eval_loss:.4f}")
        return "  ".join(parts)
