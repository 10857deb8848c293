"""Problems (file, key path, found, allowed) collected and raised together; exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ._secrets import mask_text, mask_value


class Exit(IntEnum):
    """Process exit codes, documented in `ftgen --help`."""

    OK = 0
    FINDINGS = 1  # drift or lint findings
    INVALID = 2  # invalid input or a plan that cannot work
    RUN_FAILED = 3


SEVERITIES = ("info", "warning", "error")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One finding about an input: where it is, what was found, what is allowed."""

    file: str
    key: str  # dotted key path, e.g. data.train[0].format; "" for the whole file
    message: str
    found: Any = None
    allowed: str | None = None
    severity: str = "error"
    rule: str | None = None
    line: int | None = None

    @property
    def shown_found(self) -> Any:
        """`found` as it may be shown: a secret-looking key's value or a credential-shaped value masked."""
        return mask_value(self.key, self.found)

    def render(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        text = f"{where}: {mask_text(self.message)}"
        if self.found is not None:
            text += f" (found {_short(self.shown_found)})"
        if self.allowed:
            text += f"; allowed: {mask_text(self.allowed)}"
        if self.rule:
            text += f" [{self.rule}]"
        return text

    def to_dict(self) -> dict:
        out = {
            "file": self.file,
            "key": self.key,
            "message": mask_text(self.message),
            "severity": self.severity,
        }
        if self.found is not None:
            found = self.shown_found
            out["found"] = found if isinstance(found, (str, int, float, bool)) else repr(found)
        if self.allowed is not None:
            out["allowed"] = mask_text(self.allowed)
        for name in ("rule", "line"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


class FtgenError(Exception):
    """Raised with every problem found, never with only the first."""

    def __init__(self, problems: Iterable[Problem], exit_code: Exit = Exit.INVALID):
        self.problems = list(problems)
        self.exit_code = exit_code
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found:"
        return "\n".join([head] + [f"  - {p.render()}" for p in self.problems])


@dataclass
class Collector:
    """Accumulates problems; `raise_if_any` raises them all at once."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, key: str, message: str, found: Any = None, allowed: str | None = None, **kw) -> None:
        self.problems.append(Problem(self.file, key, message, found, allowed, **kw))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def raise_if_any(self) -> None:
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise FtgenError(errors)
