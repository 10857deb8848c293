"""The one way ftgen builds jinja2 environments: templates/ loader, StrictUndefined, a private bytecode cache.

jinja2's bytecode cache unpickles what it finds in its folder, so whoever can write there runs code as the user.
The cache therefore lives only in a folder that the user owns, that nobody else can enter (mode 0700) and that is
not a symlink, checked before every read and write (a folder swapped or loosened later is caught); cache files
are opened without following symlinks and must be the user's own. Anything else: no cache (compiling the
templates costs ~0.1 s, nothing breaks).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from functools import cache

import jinja2

from ._cachedir import _make_private_dir, _private_dir, private_cache_dirs
from ._resources import templates_dir


class PrivateBytecodeCache(jinja2.FileSystemBytecodeCache):
    """FileSystemBytecodeCache that re-checks its folder before every use and never follows a symlink."""

    def _usable(self) -> bool:
        return _private_dir(self.directory)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if not self._usable():
            return
        path = self._get_cache_filename(bucket)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
                return
            bucket.load_bytecode(fh)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if not self._usable():
            return
        path = self._get_cache_filename(bucket)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                bucket.write_bytecode(fh)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EISDIR):
                raise

    def clear(self) -> None:
        if self._usable():
            super().clear()


def cache_dirs() -> list[str]:
    """Where the cache may live, in order: $FTGEN_HOME/jinja (or ~/.cache/ftgen/jinja), then a per-user temp folder."""
    return private_cache_dirs("jinja")


@cache
def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates cached on disk (keyed by source), so a cold `ftgen build` skips compiling them; None when
    no private folder can be had (one that exists with the wrong owner or mode is never used, nor repaired)."""
    if not hasattr(os, "getuid"):
        return None
    for folder in cache_dirs():
        if _make_private_dir(folder):
            return PrivateBytecodeCache(folder)
    return None


def environment(
    filters: dict[str, Callable] | None = None, globals_: dict | None = None, autoescape: bool = False
) -> jinja2.Environment:
    """A jinja2 environment over templates/ with StrictUndefined and the given filters (and globals)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        bytecode_cache=bytecode_cache(),
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters or {})
    env.globals.update(globals_ or {})
    return env
