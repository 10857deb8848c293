"""Folders for ftgen's caches that only this user can enter (0700, owned, not a symlink), checked before each use.

What such a cache holds is trusted when read back (jinja2 unpickles its bytecode; the data cache's JSON becomes
catalog facts), so whoever could write into the folder would steer ftgen: a folder of someone else's, one that
others may write to, or a symlink is never used (nor repaired), and the caller does without its cache.
"""

from __future__ import annotations

import os
import stat


def _private_dir(folder: str) -> bool:
    """Whether `folder` is a real directory (not a symlink) owned by this user with no group/other access."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0


def _make_private_dir(folder: str) -> bool:
    """Create `folder` (mode 0700, parents as needed) unless it exists; True when it is private afterwards.

    A folder of ours that only lets others read (0755, as older ftgen made it) is tightened to 0700: nobody else
    could have written into it. One that others can write to, or that is not ours, is left alone and not used.
    """
    try:
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        os.mkdir(folder, 0o700)
    except FileExistsError:
        _tighten(folder)
    except OSError:
        return False
    return _private_dir(folder)


def _tighten(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and mode & 0o077 and not mode & 0o022:
            os.fchmod(fd, 0o700)
    except OSError:
        pass
    finally:
        os.close(fd)


def private_cache_dirs(kind: str) -> list[str]:
    """Where the cache `kind` may live, in order: $FTGEN_HOME/<kind> (or ~/.cache/ftgen/<kind>), then a per-user
    temp folder."""
    return [_home_dir(kind), _temp_dir(kind)]


def _home_dir(kind: str) -> str:
    base = os.environ.get("FTGEN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "ftgen")
    return os.path.join(base, kind)


def _temp_dir(kind: str) -> str:
    import tempfile  # only when the home folder cannot be had (tempfile costs more than a cache hit saves)

    return os.path.join(tempfile.gettempdir(), f"ftgen-{kind}-{os.getuid()}")


def private_cache_dir(kind: str) -> str | None:
    """The first of private_cache_dirs(kind) that is (or could be made) private; None when none can be had."""
    if not hasattr(os, "getuid"):
        return None
    for where in (_home_dir, _temp_dir):
        folder = where(kind)
        if _make_private_dir(folder):
            return folder
    return None
