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
    tmp = _stage(path, text)
    try:
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    _sync_dir(path.parent)


def _stage(path: Path, text: str) -> str:
    """`text` in a new temp file beside `path` (its mode: the old file's, or a new file's), not yet synced."""
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
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_files(paths: list[str]) -> tuple[str, BaseException] | None:
    """fsync every file, concurrently: the file system commits them together (about one journal flush for a
    build's files instead of one each, which was most of `ftgen build`'s time). The first failure, or None."""
    failures: list[tuple[str, BaseException]] = []

    def sync(path: str) -> None:
        try:
            _fsync_file(path)
        except BaseException as exc:  # handed to the caller's thread
            failures.append((path, exc))

    if len(paths) <= 1:
        for path in paths:
            sync(path)
    else:
        import threading

        threads = [threading.Thread(target=sync, args=(path,), daemon=True) for path in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return failures[0] if failures else None


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


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
    # every file is written to its temp file and synced before any is renamed into place: a failure leaves every
    # old file as it was; each folder is synced once, after the renames
    staged: dict[str, str] = {}
    name = ""
    try:
        try:
            for name, text in files.items():
                staged[name] = _stage(targets[name], text)
            failed = _fsync_files(list(staged.values()))
            if failed is not None:
                name = next(n for n, tmp in staged.items() if tmp == failed[0])
                raise failed[1]
            for name, tmp in list(staged.items()):
                os.replace(tmp, targets[name])
                del staged[name]
                if name in executable:
                    targets[name].chmod(targets[name].stat().st_mode | 0o111)
        finally:
            for tmp in staged.values():
                _discard(tmp)
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
    for folder in dict.fromkeys(t.parent for t in targets.values()):
        _sync_dir(folder)
    return [out_dir / name for name in files]


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
