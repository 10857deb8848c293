"""The methods dataclasses writes for ftgen's record classes, compiled once and kept in the private cache folder.

On every import, the standard library's dataclasses writes each class's methods (__init__, __repr__, __eq__,
__setattr__ of a frozen class, ...) as Python source and compiles it with exec: for the 65 classes a cold
`ftgen build` defines, 366 compilations, the largest single part of its start (~45 ms of ~230 on a 2-core
machine, measured with benchmarks/cli_speed.py). The source depends only on the class's fields and options, so
the code compiled from it can be kept: keyed by that very source (and the interpreter's bytecode magic number),
in one marshal file of the user's private cache folder (generator/_cachedir.py, the trust the data cache and
jinja2's bytecode cache already need). The `exec` that dataclasses calls is given the code compiled from the
text instead of the text; what it then runs is the code compile() would have made (same file name "<string>",
no inherited compiler flags), so the classes are the same. Without a usable folder, or on any failure, the
methods are compiled as before. Only the classes of ftgen's own modules are kept (only `exec` calls made from the
dataclasses module go through this, and those for another library's classes are compiled as always).

install() is called once, by the command line (generator/cli.py), before the first record class: importing
ftgen as a library changes nothing in the host process. New entries are written when the process exits, so only
a process that compiled something (the first run of an ftgen version or Python) pays for the write.
"""

from __future__ import annotations

import atexit
import builtins
import dataclasses
import os
import sys

FORMAT = 2  # 2: ftgen's own classes only
_PACKAGE = __name__.rpartition(".")[0]  # "generator"
# One entry per distinct method text: ftgen's classes have ~400. Past this many (texts of older ftgen versions piling
# up), a save keeps only the texts this process used.
MAX_ENTRIES = 2048

_codes: dict[str, object] = {}
_used: set[str] = set()
_added = 0
_installed = False


def _entry() -> tuple[str, str] | None:
    from ._cachedir import private_cache_dir

    folder = private_cache_dir("data")
    if folder is None:
        return None
    return folder, os.path.join(folder, f"dataclass-code.{sys.implementation.cache_tag}.marshal")


def _stamp() -> tuple:
    from importlib.util import MAGIC_NUMBER

    return (FORMAT, MAGIC_NUMBER, dataclasses.__file__)


def _load() -> None:
    import marshal

    from ._datacache import _read

    where = _entry()
    if where is None:
        return
    raw = _read(*where)
    if raw is None:
        return
    try:
        record = marshal.loads(raw)
    except (ValueError, EOFError, TypeError):
        return
    if isinstance(record, tuple) and len(record) == 2 and record[0] == _stamp() and isinstance(record[1], dict):
        code_type = type(_load.__code__)
        _codes.update((k, v) for k, v in record[1].items() if type(k) is str and type(v) is code_type)


def _save() -> None:
    import marshal

    from ._datacache import _write

    if not _added:
        return
    where = _entry()
    if where is None:
        return
    codes = _codes if len(_codes) <= MAX_ENTRIES else {k: v for k, v in _codes.items() if k in _used}
    try:
        blob = marshal.dumps((_stamp(), codes))
    except ValueError:
        return
    _write(*where, blob)


def _ours(namespace: dict) -> bool:
    """Whether a class being made belongs to ftgen: dataclasses passes the namespace of the class's module. Classes of
    other libraries a process imports (MLflow's, under `ftgen run`) are compiled as always and never kept: the
    cache holds ftgen's few hundred methods, not whatever else ran beside them."""
    name = namespace.get("__name__") if isinstance(namespace, dict) else None
    return isinstance(name, str) and (name == _PACKAGE or name.startswith(_PACKAGE + "."))


def _exec(source, globals=None, locals=None, /):
    """builtins.exec for the dataclasses module: source text is compiled once, and from then on comes from the
    cache."""
    global _added
    if globals is None:  # exec's own default: the caller's namespaces
        frame = sys._getframe(1)
        globals = frame.f_globals
        if locals is None:
            locals = frame.f_locals
    if type(source) is str and _ours(globals):
        code = _codes.get(source)
        if code is None:
            code = _codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
            _added += 1
        _used.add(source)
        source = code
    return builtins.exec(source, globals, locals)


def install() -> None:
    """Serve the dataclasses module's exec calls from the cache (once per process; new entries saved at exit)."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        _load()
    except OSError:
        pass
    dataclasses.exec = _exec  # a module global shadows the builtin for that module's own calls only
    atexit.register(_save)
