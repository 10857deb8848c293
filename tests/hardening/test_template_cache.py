"""jinja2's bytecode cache unpickles its files: a planted one must never be loaded (issue 12, item 2).

A pickle that creates a marker file when unpickled is planted, under the exact file name jinja2 would read, in
each folder an attacker could control: a world-writable $FTGEN_HOME/jinja, one owned by another user, a symlink
to the attacker's folder, the predictable $TMPDIR fallback pre-created by someone else. Rendering a template must
never create the marker; a private folder (0700, ours) is used and does speed later builds.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from generator import _templates

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
TEMPLATE = "config/config.yaml.j2"  # uses no custom filter


class _Boom:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cache_file_name(folder: Path) -> str:
    """The file jinja2's FileSystemBytecodeCache reads for TEMPLATE."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(REPO / "templates")))
    source, filename, _ = env.loader.get_source(env, TEMPLATE)
    bcc = jinja2.FileSystemBytecodeCache(str(folder))
    bucket = bcc.get_bucket(env, TEMPLATE, filename, source)
    return Path(bcc._get_cache_filename(bucket)).name


def _plant(folder: Path, marker: Path, mode: int = 0o777, owner: int | None = None) -> Path:
    import jinja2

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _cache_file_name(folder)
    path.write_bytes(jinja2.bccache.bc_magic + pickle.dumps(_Boom(str(marker)), protocol=2))
    path.chmod(0o644)
    os.chmod(folder, mode)
    if owner is not None:
        os.chown(path, owner, owner)
        os.chown(folder, owner, owner)
    return path


def _render(home: Path, tmpdir: Path) -> subprocess.CompletedProcess:
    """Render the review template in a fresh process (the cache is chosen once per process)."""
    code = (
        "from generator._templates import environment, bytecode_cache;"
        f"environment().get_template({TEMPLATE!r});"
        "c = bytecode_cache(); print(c.directory if c else 'NONE')"
    )
    env = {**os.environ, "FTGEN_HOME": str(home), "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def _fresh_tmp(tmp_path: Path) -> Path:
    t = tmp_path / "tmp"
    t.mkdir(exist_ok=True)
    return t


def test_a_pickle_in_a_world_writable_cache_folder_is_never_loaded(tmp_path):
    marker = tmp_path / "pwned"
    home = tmp_path / "home"
    _plant(home / "jinja", marker, mode=0o777)
    tmp = _fresh_tmp(tmp_path)
    _plant(tmp / f"ftgen-jinja-{os.getuid()}", marker, mode=0o777)
    result = _render(home, tmp)
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "the planted pickle was unpickled"
    assert result.stdout.strip() == "NONE", "no cache when every candidate folder is writable by others"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_pickle_in_a_folder_owned_by_someone_else_is_never_loaded(tmp_path):
    marker = tmp_path / "pwned"
    home = tmp_path / "home"
    _plant(home / "jinja", marker, mode=0o700, owner=NOBODY)
    tmp = _fresh_tmp(tmp_path)  # the predictable fallback, pre-created by another user
    _plant(tmp / f"ftgen-jinja-{os.getuid()}", marker, mode=0o700, owner=NOBODY)
    result = _render(home, tmp)
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "the planted pickle was unpickled"
    assert result.stdout.strip() == "NONE"


def test_a_symlinked_cache_folder_is_never_used(tmp_path):
    marker = tmp_path / "pwned"
    attacker = tmp_path / "attacker"
    _plant(attacker, marker, mode=0o700)
    home = tmp_path / "home"
    home.mkdir()
    (home / "jinja").symlink_to(attacker)
    tmp = _fresh_tmp(tmp_path)
    (tmp / f"ftgen-jinja-{os.getuid()}").symlink_to(attacker)
    result = _render(home, tmp)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    assert result.stdout.strip() == "NONE"


def test_a_symlinked_cache_file_in_a_private_folder_is_not_followed(tmp_path):
    marker = tmp_path / "pwned"
    attacker = tmp_path / "attacker"
    planted = _plant(attacker, marker, mode=0o755)
    home = tmp_path / "home"
    (home / "jinja").mkdir(parents=True, mode=0o700)
    (home / "jinja" / planted.name).symlink_to(planted)
    result = _render(home, _fresh_tmp(tmp_path))
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_a_folder_loosened_after_start_is_checked_again(tmp_path, monkeypatch):
    folder = tmp_path / "jinja"
    monkeypatch.setenv("FTGEN_HOME", str(tmp_path))
    _templates.bytecode_cache.cache_clear()
    try:
        cache = _templates.bytecode_cache()
        assert cache is not None and Path(cache.directory) == folder
        assert (folder.stat().st_mode & 0o777) == 0o700
        marker = tmp_path / "pwned"
        _plant(folder, marker, mode=0o777)  # someone loosens it and plants a pickle while ftgen runs
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(REPO / "templates")), bytecode_cache=cache)
        env.get_template(TEMPLATE)
        assert not marker.exists()
    finally:
        _templates.bytecode_cache.cache_clear()


def test_a_private_folder_is_used_and_an_old_0755_one_is_tightened(tmp_path):
    home = tmp_path / "home"
    (home / "jinja").mkdir(parents=True)
    os.chmod(home / "jinja", 0o755)  # as older ftgen made it: others could read, never write
    result = _render(home, _fresh_tmp(tmp_path))
    assert result.stdout.strip() == str(home / "jinja"), result.stderr
    assert (home / "jinja").stat().st_mode & 0o777 == 0o700
    files = list((home / "jinja").iterdir())
    assert files and all(f.stat().st_mode & 0o077 == 0 for f in files)
    again = _render(home, _fresh_tmp(tmp_path))  # the second process loads what the first wrote
    assert again.returncode == 0 and again.stdout.strip() == str(home / "jinja")
