"""Run a helper script from generator/_env_scripts/ with some interpreter and read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "_env_scripts"


class ScriptError(RuntimeError):
    """A helper script failed or printed something that is not JSON."""

    def __init__(self, message: str, stderr: str = ""):
        self.stderr = stderr
        super().__init__(message)


def script_path(name: str) -> Path:
    """The path of a helper script by file name (e.g. "env_probe.py")."""
    path = SCRIPTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"ftgen helper script {name!r} not found in {SCRIPTS_DIR}")
    return path


def clean_environ(base: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the variables that tie a child to ftgen's interpreter."""
    out = dict(os.environ if base is None else base)
    for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        out.pop(name, None)
    return out


def tail(text: str, lines: int = 20) -> str:
    """The last `lines` meaningful lines of some output (pip's find-links noise dropped)."""
    kept = [
        ln for ln in text.splitlines() if ln.strip() and "is ignored: it is neither a file nor a directory" not in ln
    ]
    return "\n".join(kept[-lines:])


def run_json(
    python: Path | str,
    script: str,
    args: list[str] | tuple[str, ...] = (),
    *,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = 120,
    cwd: Path | str | None = None,
):
    """Run `python <script> args...` and return the JSON object it prints last on stdout."""
    cmd = [str(python), str(script_path(script)), *map(str, args)]
    try:
        proc = subprocess.run(
            cmd,
            input=stdin,
            capture_output=True,
            text=True,
            env=clean_environ() if env is None else env,
            timeout=timeout,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise ScriptError(f"interpreter not found: {python}") from exc
    except PermissionError as exc:
        raise ScriptError(f"interpreter not executable: {python}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ScriptError(f"{script} timed out after {timeout} s with {python}") from exc
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        raise ScriptError(
            f"{script} failed with exit code {proc.returncode} under {python}:\n{tail(proc.stderr)}",
            proc.stderr,
        )
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise ScriptError(f"{script} printed no JSON under {python}: {lines[-1][:200]!r}", proc.stderr) from exc
