"""Install a managed framework env into a temp sibling folder, record it, rename it into place."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from .._proc import pid_alive
from ..errors import Exit, FtgenError, Problem
from ._env import MANIFEST, Env, env_root
from ._scripts import ScriptError, clean_environ, run_json, tail
from ._specs import RECORDED_DISTS, SPECS, TORCH_FLAVORS, EnvSpec, Step, expand_pip_args, python_satisfies

Progress = Callable[[int, int, str], None]

MANIFEST_FORMAT = 1
_TMP_PREFIX = ".tmp-"
_OLD_PREFIX = ".old-"
_PID_FILE = ".ftgen-installing"
_BIN = "Scripts" if os.name == "nt" else "bin"


class EnvInstallError(FtgenError):
    """An install step failed: names the step, the command, pip's last lines and how to retry."""

    def __init__(self, problem: Problem, step: str = "", command: str = "", output_tail: str = ""):
        self.step = step
        self.command = command
        self.output_tail = output_tail
        super().__init__([problem], Exit.RUN_FAILED)


def spec_for(framework: str) -> EnvSpec:
    """The EnvSpec of a framework, or an error listing the supported ones."""
    try:
        return SPECS[framework]
    except KeyError:
        raise FtgenError(
            [Problem("ftgen env", "framework", "unsupported framework", framework, ", ".join(SPECS))]
        ) from None


def has_nvidia_gpu() -> bool:
    """True when `nvidia-smi -L` runs and lists a GPU."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        proc = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "GPU" in proc.stdout


def resolve_torch_flavor(torch: str) -> str:
    """ "cpu" | "cuda" | "auto" -> the flavor to install ("auto": cuda when nvidia-smi works)."""
    if torch == "auto":
        return "cuda" if has_nvidia_gpu() else "cpu"
    if torch not in TORCH_FLAVORS:
        raise FtgenError([Problem("ftgen env install", "--torch", "unknown torch flavor", torch, "auto, cpu, cuda")])
    return torch


def env_dir_name(framework: str, version: str, flavor: str) -> str:
    """`<framework>-<version>-<torchflavor>` (or `-external`)."""
    return f"{framework}-{version}-{flavor}"


def write_manifest(env_dir: Path, data: dict) -> Path:
    """Write ftgen-env.json atomically (temp file, fsync, rename)."""
    target = env_dir / MANIFEST
    fd, tmp = tempfile.mkstemp(prefix=".ftgen-env-", suffix=".json", dir=env_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def dir_size_mb(path: Path) -> float:
    """Total size of the files under `path` in MB (links not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return round(total / 1e6, 1)


def _run_command(argv: list[str], log: Path, env: dict[str, str]) -> int:
    """Run one install command, appending its output to `log`; the exit code."""
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n$ {shlex.join(argv)}\n")
        fh.flush()
        proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    return proc.returncode


def _clean_stale(base: Path, name: str) -> None:
    """Remove temp/old folders of `name` left by installs whose process is gone."""
    for prefix in (_TMP_PREFIX, _OLD_PREFIX):
        for path in base.glob(f"{prefix}{name}-*"):
            try:
                pid = int((path / _PID_FILE).read_text().strip())
            except (OSError, ValueError):
                pid = None
            if pid is None or pid == os.getpid() or not pid_alive(pid):
                shutil.rmtree(path, ignore_errors=True)


def _relocate(tmp: Path, final: Path) -> None:
    """Point the venv's scripts (shebangs, activate) and pyvenv.cfg from `tmp` to `final`."""
    olds = {str(tmp).encode(), str(tmp.resolve()).encode()}
    new = str(final).encode()
    old_name, new_name = tmp.name.encode(), final.name.encode()  # the activate scripts' prompt
    candidates = [tmp / "pyvenv.cfg"]
    bin_dir = tmp / _BIN
    if bin_dir.is_dir():
        candidates += [p for p in bin_dir.iterdir() if p.is_file() and not p.is_symlink()]
    for path in candidates:
        try:
            if path.stat().st_size > 2_000_000:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        changed = data
        for old in olds:
            changed = changed.replace(old, new)
        changed = changed.replace(old_name, new_name)
        if changed != data:
            mode = path.stat().st_mode
            path.write_bytes(changed)
            os.chmod(path, mode)


def _retry_hint(framework: str, root: Path | None, torch: str) -> str:
    cmd = f"ftgen env install {framework} --force"
    if torch != "auto":
        cmd += f" --torch {torch}"
    if root is not None:
        cmd += f" --env-dir {shlex.quote(str(root))}"
    return cmd


def _step_argv(step: Step, python: Path, venv_python: Path, target: Path, flavor: str) -> list[str] | None:
    if step.action == "venv":
        return [str(python), "-m", "venv", str(target)]
    if step.pip:
        return [str(venv_python), "-m", "pip", "install", "--progress-bar", "off", *expand_pip_args(step, flavor)]
    return None


def _strip_torchaudio_libs(target: Path) -> None:
    for lib in target.glob("lib/python*/site-packages/torchaudio/lib/*.so*"):
        lib.unlink()


def _check_python(spec: EnvSpec, python: Path) -> tuple[int, ...]:
    if Path(python).resolve() == Path(sys.executable).resolve():
        version = tuple(sys.version_info[:3])
    else:
        try:
            out = subprocess.run(
                [str(python), "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
                capture_output=True,
                text=True,
                timeout=60,
                env=clean_environ(),
            )
            version = tuple(int(x) for x in out.stdout.strip().split("."))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            raise FtgenError(
                [Problem("ftgen env install", "--python", "not a working Python interpreter", str(python))]
            ) from None
    if not python_satisfies(spec.python, version):
        raise FtgenError(
            [
                Problem(
                    "ftgen env install",
                    "--python",
                    f"{spec.framework} {spec.version} needs Python {spec.python}",
                    ".".join(map(str, version)),
                    spec.python,
                )
            ]
        )
    return version


def install(
    framework: str,
    *,
    root: Path | str | None = None,
    torch: str = "auto",
    force: bool = False,
    progress: Progress | None = None,
    python: Path | str | None = None,
) -> Env:
    """Create (or return the healthy existing) managed env of `framework` at its pinned version.

    Builds in a temp sibling folder and renames it into place only after every
    step succeeded and the manifest is written, so an interrupted or failed
    install never leaves a folder that looks like a healthy env. `progress` is
    called as progress(step_index, step_count, description), step_index from 1.
    """
    from ._registry import load_env  # local: the registry imports this module

    spec = spec_for(framework)
    flavor = resolve_torch_flavor(torch)
    root_arg = Path(root) if root is not None else None
    base = env_root(root)
    name = env_dir_name(spec.framework, spec.version, flavor)
    final = base / name
    steps = [s for s in spec.steps if flavor in s.flavors]  # the GPU extras only where torch is a CUDA build
    count = len(steps) + 1

    if final.exists() and not force:
        existing = load_env(final)
        if existing is not None:
            if progress:
                progress(count, count, f"{name} already installed")
            return existing

    interpreter = Path(python) if python is not None else Path(sys.executable)
    _check_python(spec, interpreter)
    base.mkdir(parents=True, exist_ok=True)
    _clean_stale(base, name)
    log_dir = base / ".logs"
    log_dir.mkdir(exist_ok=True)
    log = log_dir / f"{name}.log"
    log.write_text(f"ftgen env install {framework} ({flavor}) {datetime.now(timezone.utc).isoformat()}\n")

    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{name}-", dir=base))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; the env should read like any folder
    venv_python = tmp / _BIN / ("python.exe" if os.name == "nt" else "python")
    child_env = clean_environ()
    child_env.update({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    started = time.monotonic()
    commands: list[str] = []
    try:
        (tmp / _PID_FILE).write_text(str(os.getpid()))
        for index, step in enumerate(steps, 1):
            desc = step.description
            if step.description == "install torch":
                desc = f"install torch ({flavor})"
            if progress:
                progress(index, count, desc)
            argv = _step_argv(step, interpreter, venv_python, tmp, flavor)
            if argv is not None:
                rc = _run_command(argv, log, child_env)
                shown = shlex.join(argv).replace(str(tmp), str(final))
                commands.append(shown)
                if rc != 0:
                    output = tail(log.read_text(encoding="utf-8", errors="replace"), 15)
                    raise EnvInstallError(
                        Problem(
                            str(final),
                            "",
                            f"install step {index}/{count} '{desc}' failed with exit code {rc}\n"
                            f"    command: {shown}\n"
                            f"    last output:\n"
                            + "\n".join("      " + ln for ln in output.splitlines())
                            + f"\n    full log: {log}",
                            allowed=f"fix the cause, then retry: {_retry_hint(framework, root_arg, torch)}",
                        ),
                        step=desc,
                        command=shown,
                        output_tail=output,
                    )
            elif step.action == "strip-torchaudio-libs":
                _strip_torchaudio_libs(tmp)
                commands.append(f"rm {final}/lib/python*/site-packages/torchaudio/lib/*.so")

        if progress:
            progress(count, count, "verify and record the env")
        _relocate(tmp, final)
        try:
            probe = run_json(venv_python, "env_probe.py", [spec.module, spec.dist, *RECORDED_DISTS], env=child_env)
        except ScriptError as exc:
            probe = {"module_found": False, "packages": {}, "error": str(exc)}
        found = probe.get("packages", {}).get(spec.dist)
        if not probe.get("module_found") or found != spec.version:
            raise EnvInstallError(
                Problem(
                    str(final),
                    "",
                    f"install finished but {spec.module} {spec.version} is not importable in the new env"
                    + (f": {probe['error']}" if "error" in probe else ""),
                    found=found,
                    allowed=f"{spec.dist}=={spec.version}; retry: {_retry_hint(framework, root_arg, torch)}",
                ),
                step="verify",
            )
        manifest = {
            "format": MANIFEST_FORMAT,
            "framework": spec.framework,
            "version": spec.version,
            "external": False,
            "python": str(final / _BIN / venv_python.name),
            "python_version": ".".join(map(str, probe.get("python_version", []))),
            "torch_flavor": flavor,
            "torch_build": probe.get("torch_flavor"),
            "versions": dict(sorted(probe.get("packages", {}).items())),
            "install_commands": commands,
            "install_seconds": round(time.monotonic() - started, 1),
            "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "size_mb": dir_size_mb(tmp),
        }
        write_manifest(tmp, manifest)
        (tmp / _PID_FILE).unlink(missing_ok=True)

        old = None
        if final.exists() or final.is_symlink():
            old = base / f"{_OLD_PREFIX}{name}-{os.getpid()}-{int(time.time())}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    env = load_env(final)
    if env is None:  # pragma: no cover - the manifest was just written
        raise EnvInstallError(Problem(str(final), "", "env was installed but cannot be loaded"))
    return env
