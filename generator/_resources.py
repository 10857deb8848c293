"""Locate the templates/ and schemas/ folders in a source checkout or an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    """Return the folder `name` ("templates" or "schemas").

    In a source checkout it sits beside the package; in a wheel hatch's
    force-include puts it under generator/_data/.
    """
    for candidate in (_PKG.parent / name, _PKG / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"ftgen resource folder {name!r} not found next to {_PKG}")


def templates_dir() -> Path:
    return resource_dir("templates")


def schemas_dir() -> Path:
    return resource_dir("schemas")


def catalog_dir() -> Path:
    return _PKG / "catalog"
