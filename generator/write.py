"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import Exit, FtgenError, Problem


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file (mkstemp alone gives 0600)


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the new one, never a torn one.

    The new file keeps the old one's permissions (or gets the usual ones for a new file), and the folder is
    synced after the rename so the new name survives a crash.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _target(root: Path, out_dir: Path, name: str) -> Path | None:
    """The resolved path of `name` inside out_dir, or None when it would land outside (.., absolute, symlink)."""
    if not isinstance(name, str) or not name or "\0" in name or Path(name).is_absolute():
        return None
    target = (out_dir / name).resolve()
    return target if root in target.parents else None


def write_all(out_dir: Path, files: dict[str, str], executable: frozenset[str] | set[str] = frozenset()) -> list[Path]:
    """Write every file of a build atomically; files are names inside out_dir, never paths outside it.

    Every name is checked before anything is written; a name that would land outside out_dir, or a file that
    cannot be written, is an FtgenError (exit 2), not a traceback.
    """
    out_dir = Path(out_dir)
    try:
        root = out_dir.resolve()
    except (OSError, ValueError) as exc:
        raise FtgenError([Problem(str(out_dir), "", f"cannot use this output folder: {exc}")]) from None
    targets: dict[str, Path] = {}
    refused = []
    for name in files:
        target = _target(root, out_dir, name)
        if target is None:
            refused.append(
                Problem(
                    str(out_dir),
                    "",
                    "refusing to write outside the output folder",
                    found=name,
                    allowed=f"a file name inside {out_dir}",
                )
            )
        else:
            targets[name] = target
    if refused:
        raise FtgenError(refused, exit_code=Exit.INVALID)
    written = []
    for name, text in files.items():
        try:
            atomic_write(targets[name], text)
            if name in executable:
                targets[name].chmod(targets[name].stat().st_mode | 0o111)
        except OSError as exc:
            raise FtgenError(
                [
                    Problem(
                        str(out_dir / name),
                        "",
                        f"cannot write: {exc.strerror or exc}",
                        allowed="a writable output folder (see --out)",
                    )
                ],
                exit_code=Exit.INVALID,
            ) from None
        written.append(out_dir / name)
    return written


def remove_files(out_dir: Path, names: list[str]) -> list[Path]:
    """Remove files (names inside out_dir, never a folder or anything outside it) that a build no longer writes."""
    out_dir = Path(out_dir)
    try:
        root = out_dir.resolve()
    except (OSError, ValueError):
        return []
    removed = []
    for name in names:
        if _target(root, out_dir, name) is None:
            continue
        path = out_dir / name
        try:
            if path.is_symlink() or path.is_file():
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise FtgenError(
                [Problem(str(path), "", f"cannot remove a file the build no longer writes: {exc.strerror or exc}")],
                exit_code=Exit.INVALID,
            ) from None
    if removed:
        _sync_dir(out_dir)
    return removed
