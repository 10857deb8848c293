"""The data files ftgen ships (catalogs, lint data, JSON Schemas), parsed once and kept in a private cache folder.

Parsing models.yaml and gpus.yaml with PyYAML takes ~5-10 ms each, and json.loads of the 335 KB Axolotl schema
~5 ms, on every `ftgen lint`, `build` and `estimate`; reading the same data back takes a fraction of that. A YAML
file's data is kept as JSON (dates as {"__date__": "YYYY-MM-DD"}; data that does not come back exactly, such as
other types, non-string keys or NaN, is never cached); a JSON file's as marshal data (per Python version), which
loads several times faster than JSON. Every entry holds the text it was parsed from and is used only when that
text is the file's text now (and the parser the same), so an edited file is parsed again.

The folder is private to the user (generator/_cachedir.py) and an entry must be the user's own regular file that
no one else may write, the trust the jinja2 bytecode cache (pickles) already needs: no one else can change what
ftgen reads. Without a usable folder, or on any failure, the file is parsed as before.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from ._cachedir import _private_dir, private_cache_dir

FORMAT = 1
_DATE = "__date__"
MAX_ENTRY = 16 * 1024 * 1024


def load_data(path: Path | str, parse) -> Any:
    """`parse(text)` of the file at `path` (a trusted YAML file), from the cache when it holds this very text."""
    text = Path(path).read_text(encoding="utf-8")
    import yaml

    stamp = {"format": FORMAT, "yaml": yaml.__version__, "parser": _name(parse)}
    folder = private_cache_dir("data")
    entry = os.path.join(folder, _entry_name(path, "json")) if folder else None
    if entry is not None:
        raw = _read(folder, entry)
        try:
            record = json.loads(raw, object_hook=_decode) if raw is not None else None
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("stamp") == stamp and record.get("source") == text:
            return record["data"]
    data = parse(text)
    if entry is not None:
        _write_json(folder, entry, {"stamp": stamp, "source": text, "data": data}, data)
    return data


def load_json_file(path: Path | str) -> Any:
    """json.loads of the file at `path` (a JSON file ftgen ships), from the cache when it holds this very text."""
    import marshal

    text = Path(path).read_text(encoding="utf-8")
    stamp = (FORMAT, "json", marshal.version)
    folder = private_cache_dir("data")
    entry = os.path.join(folder, _entry_name(path, f"py{sys.version_info[0]}{sys.version_info[1]}.marshal"))
    entry = entry if folder else None
    if entry is not None:
        raw = _read(folder, entry)
        try:
            record = marshal.loads(raw) if raw is not None else None
        except (ValueError, EOFError, TypeError):
            record = None
        if isinstance(record, tuple) and len(record) == 3 and record[0] == stamp and record[1] == text:
            return record[2]
    data = json.loads(text)
    if entry is not None:
        try:
            blob = marshal.dumps((stamp, text, data))
        except ValueError:
            return data
        _write(folder, entry, blob)
    return data


def _name(parse) -> str:
    named = parse if hasattr(parse, "__qualname__") else type(parse)
    return f"{named.__module__}.{named.__qualname__}"


def _entry_name(path: Path | str, suffix: str) -> str:
    import zlib

    where = os.path.abspath(path)
    return f"{os.path.basename(where)}.{zlib.crc32(where.encode('utf-8', 'surrogatepass')):08x}.{suffix}"


def _read(folder: str, entry: str) -> bytes | None:
    """The entry's bytes, when the folder is private and the entry is the user's own regular file."""
    if not _private_dir(folder):
        return None
    try:
        fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
                return None
            if st.st_size > MAX_ENTRY:
                return None
            return fh.read()
    except OSError:
        return None


def _encode(value: Any) -> Any:
    import datetime

    if type(value) is datetime.date:
        return {_DATE: value.isoformat()}
    raise TypeError(f"not cached: {type(value).__name__}")


def _decode(obj: dict) -> Any:
    if len(obj) == 1 and _DATE in obj:
        import datetime

        return datetime.date.fromisoformat(obj[_DATE])
    return obj


def _write_json(folder: str, entry: str, record: dict, data: Any) -> None:
    try:
        text = json.dumps(record, ensure_ascii=False, allow_nan=False, default=_encode)
        if not _exact(json.loads(text, object_hook=_decode)["data"], data):
            return
    except (TypeError, ValueError):
        return
    _write(folder, entry, text.encode("utf-8"))


def _write(folder: str, entry: str, blob: bytes) -> None:
    if len(blob) > MAX_ENTRY or not _private_dir(folder):
        return
    tmp = f"{entry}.{os.getpid()}.tmp"
    try:  # another thread of this process writing the same entry holds the name: let it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, entry)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _exact(a: Any, b: Any) -> bool:
    """Whether a and b are the same data with the same types and key order (1, 1.0 and True differ here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_exact(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_exact(x, y) for x, y in zip(a, b))
    return a == b
