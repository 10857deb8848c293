"""Outputs are written atomically, only inside the output folder; concurrent builds agree; --check never writes."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from generator import write as write_module
from generator.build import build_file
from generator.errors import FtgenError
from generator.write import atomic_write, write_all

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "support-bot.yaml"


def _tree(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, size, mtime (ns), mode and content hash."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_mode, digest)
    return out


def _spec(tmp: Path, seed: int = 42) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["seed"] = seed
    for entry in data["data"]["train"]:
        entry["path"] = str(EXAMPLE.parent / entry["path"])
    data["eval"]["path"] = str(EXAMPLE.parent / data["eval"]["path"])
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _no_temp_files(folder: Path) -> None:
    leftovers = [p.name for p in folder.rglob("*.tmp")]
    assert not leftovers, leftovers


# ------------------------------------------------------------------ concurrency


def test_concurrent_builds_in_threads_agree(tmp_path):
    spec = _spec(tmp_path)
    out = tmp_path / "outputs"
    expected = build_file(spec, out)
    errors: list[BaseException] = []

    def worker():
        try:
            for _ in range(3):
                b = build_file(spec, out)
                write_all(b.out_dir, b.files)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert {
        p.relative_to(expected.out_dir).as_posix(): p.read_text() for p in expected.out_dir.rglob("*") if p.is_file()
    } == expected.files
    _no_temp_files(out)


def test_concurrent_builds_in_processes_agree_and_readers_never_see_a_torn_file(tmp_path):
    """Four `ftgen build` processes at once over an older build; a reader sees whole old or whole new files only."""
    spec = _spec(tmp_path, seed=1)
    out = tmp_path / "outputs"
    old = build_file(spec, out)
    write_all(old.out_dir, old.files)
    spec = _spec(tmp_path, seed=2)
    new = build_file(spec, out)
    assert old.files["axolotl.yaml"] != new.files["axolotl.yaml"]
    allowed = {name: {old.files[name], new.files[name]} for name in new.files}
    torn: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            for name, texts in allowed.items():
                text = (old.out_dir / name).read_text()
                if text not in texts:
                    torn.append(name)

    t = threading.Thread(target=reader)
    t.start()
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "generator.cli", "build", str(spec), "--out", str(out)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        results = [(p.wait(timeout=300), p.stdout.read().decode()) for p in procs]
    finally:
        stop.set()
        t.join()
    assert all(code == 0 for code, _ in results), results
    assert not torn, f"a reader saw a partly written file: {sorted(set(torn))}"
    assert {
        p.relative_to(new.out_dir).as_posix(): p.read_text() for p in new.out_dir.rglob("*") if p.is_file()
    } == new.files
    _no_temp_files(out)


# ------------------------------------------------------------------ where files may go


@pytest.mark.parametrize(
    "name",
    [
        "../escape.yaml",
        "/tmp/ftgen-abs-escape.yaml",
        "a/../../escape.yaml",
        "",
        ".",
        "..",
        "sub/../../escape.yaml",
        "x\0y",
    ],
)
def test_write_all_refuses_names_outside_the_folder(tmp_path, name):
    out = tmp_path / "out"
    before = _tree(tmp_path)
    with pytest.raises(FtgenError) as exc:
        write_all(out, {"ok.yaml": "a: 1\n", name: "pwned: true\n"})
    assert "outside the output folder" in exc.value.render()
    assert _tree(tmp_path) == before, "nothing is written when any name is refused"
    assert not Path("/tmp/ftgen-abs-escape.yaml").exists()


def test_write_all_refuses_a_symlink_that_leads_outside(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.yaml"
    outside.write_text("original\n")
    (out / "axolotl.yaml").symlink_to(outside)
    with pytest.raises(FtgenError):
        write_all(out, {"axolotl.yaml": "pwned\n"})
    assert outside.read_text() == "original\n"


def test_unwritable_output_folder_is_exit_2_not_a_traceback(tmp_path, cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    result = cli("build", str(EXAMPLE), "--out", str(blocker))
    assert result.exit_code == 2, result.output
    assert "cannot write" in result.output and "Traceback" not in result.output
    assert blocker.read_text() == "not a folder\n"


def test_new_files_get_the_usual_permissions_and_old_ones_keep_theirs(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    atomic_write(tmp_path / "new.yaml", "a: 1\n")
    assert stat.S_IMODE((tmp_path / "new.yaml").stat().st_mode) == 0o666 & ~umask
    script = tmp_path / "launch.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o750)
    atomic_write(script, "#!/bin/sh\necho new\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o750


# ------------------------------------------------------------------ crashes


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_failure_mid_write_leaves_the_old_file(tmp_path, monkeypatch, fail_at):
    target = tmp_path / "axolotl.yaml"
    target.write_text("old: true\n")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # as a Ctrl-C at the worst moment

    if fail_at == "write":
        real_fdopen = os.fdopen

        class Torn:
            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, text):
                self.fh.write(text[: len(text) // 2])
                self.fh.flush()
                raise KeyboardInterrupt

        monkeypatch.setattr(os, "fdopen", lambda *a, **kw: Torn(real_fdopen(*a, **kw)))
    else:
        monkeypatch.setattr(os, fail_at, boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new: true\n" * 1000)
    monkeypatch.undo()
    assert target.read_text() == "old: true\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["axolotl.yaml"], "the temp file is cleaned up"


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_write_all_failing_on_one_file_names_it_and_leaves_every_old_file(tmp_path, monkeypatch, fail_at):
    """write_all syncs every temp file before it renames any: a file that cannot be synced leaves all the old files
    (a failed rename, those not yet renamed), no temp file, and a problem naming the file."""
    old = {"axolotl.yaml": "old: 1\n", "plan.json": "{}\n", "PLAN.md": "old\n"}
    for name, text in old.items():
        (tmp_path / name).write_text(text)
    real_replace, real_sync = os.replace, write_module._fsync_file

    def replace(src, dst):
        if str(dst).endswith("plan.json"):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)

    def sync(path):
        if ".plan.json." in str(path):
            raise OSError(errno.EIO, "Input/output error")
        return real_sync(path)

    if fail_at == "replace":
        monkeypatch.setattr(os, "replace", replace)
    else:
        monkeypatch.setattr(write_module, "_fsync_file", sync)
    with pytest.raises(FtgenError) as info:
        write_all(tmp_path, {name: "new\n" for name in old})
    monkeypatch.undo()
    assert info.value.problems[0].file == str(tmp_path / "plan.json")
    assert "Input/output error" in info.value.problems[0].message
    now = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert set(now) == set(old), "no temp file is left"
    if fail_at == "fsync":
        assert now == old
    else:  # renamed in order: axolotl.yaml before plan.json failed, PLAN.md never
        assert now == {**old, "axolotl.yaml": "new\n"}


def test_kill_9_mid_write_leaves_the_old_file(tmp_path):
    """A writer killed outright after writing, before the rename (no cleanup runs), leaves the old file whole;
    only a hidden temp file remains."""
    target = tmp_path / "axolotl.yaml"
    target.write_text("old: true\n")
    code = (
        "import os, sys, time; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
        "from generator.write import atomic_write\n"
        "def hang(fd):\n    print('ready', flush=True); time.sleep(600)\n"
        "os.fsync = hang\n"
        "atomic_write(Path(sys.argv[1]), 'new: true\\n' * 100000)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target), str(REPO)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert target.read_text() == "old: true\n"
    temps = [p for p in tmp_path.iterdir() if p != target]
    assert temps and all(p.name.startswith(".axolotl.yaml.") and p.name.endswith(".tmp") for p in temps)
    # what a killed writer leaves is invisible to the drift check and the next build simply writes over it
    write_all(tmp_path, {"axolotl.yaml": "new: true\n"})
    assert target.read_text() == "new: true\n"


# ------------------------------------------------------------------ --check never writes


@pytest.fixture
def committed_tree(tmp_path):
    """A copy of an example checkout: spec, data, model config, and its built outputs."""
    root = tmp_path / "repo"
    (root / "examples").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "tiny-cpu.yaml", root / "examples")
    shutil.copytree(REPO / "examples" / "data", root / "examples" / "data")
    (root / "examples" / "models" / "tiny-llama").mkdir(parents=True)
    shutil.copy(
        REPO / "examples" / "models" / "tiny-llama" / "config.json", root / "examples" / "models" / "tiny-llama"
    )
    b = build_file(root / "examples" / "tiny-cpu.yaml", root / "outputs")
    write_all(b.out_dir, b.files)
    return root


def _read_only(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o222)


def _writable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(stat.S_IMODE(p.stat().st_mode) | 0o200)


@pytest.mark.parametrize("drift", [False, True])
def test_check_never_writes_on_a_read_only_tree(committed_tree, cli, monkeypatch, drift):
    root = committed_tree
    config = root / "outputs" / "tiny-cpu" / "llamafactory.yaml"
    if drift:
        config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
        (root / "outputs" / "tiny-cpu" / "PLAN.md").unlink()
    monkeypatch.chdir(root)
    _read_only(root)
    try:
        before = _tree(root)
        time.sleep(0.01)  # a write would show as a later mtime
        results = [
            cli("build", "examples/tiny-cpu.yaml", "--check"),
            cli("build", "examples/tiny-cpu.yaml", "--check", "--diff"),
            cli("build", "examples/tiny-cpu.yaml", "--diff"),
            cli("check", "examples/tiny-cpu.yaml", "--diff"),
        ]
        after = _tree(root)
    finally:
        _writable(root)
    for r in results:
        assert r.exit_code == (1 if drift else 0), r.output
        assert "Traceback" not in r.output
        assert ("would regenerate" in r.output) == drift
    assert after == before, "--check / --diff changed the tree (root ignores permissions, so this compares listings)"
