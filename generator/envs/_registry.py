"""Find, list and health-check managed envs, and record external interpreters."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ..errors import FtgenError, Problem
from ._env import MANIFEST, Env, EnvInfo, env_root
from ._install import MANIFEST_FORMAT, env_dir_name, has_nvidia_gpu, spec_for, write_manifest
from ._scripts import ScriptError, run_json
from ._specs import RECORDED_DISTS, SPECS


def read_manifest(env_dir: Path) -> dict | None:
    """The manifest of an env folder, or None when it is missing or unreadable."""
    try:
        data = json.loads((Path(env_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not {"framework", "version", "python"} <= data.keys():
        return None
    return data


def _env_from_manifest(env_dir: Path, data: dict) -> Env:
    python = Path(data["python"])
    external = bool(data.get("external"))
    venv = Path(data["venv"]) if data.get("venv") else (None if external else Path(env_dir))
    bin_dir = Path(data["bin_dir"]) if data.get("bin_dir") else python.parent
    return Env(
        framework=data["framework"],
        version=data["version"],
        root=Path(env_dir),
        python=python,
        bin_dir=bin_dir,
        torch_flavor=data.get("torch_flavor") or "unknown",
        external=external,
        venv=venv,
    )


def load_env(env_dir: Path) -> Env | None:
    """The Env recorded in `env_dir` when its manifest is valid and its python exists, else None."""
    data = read_manifest(env_dir)
    if data is None or not Path(data["python"]).exists():
        return None
    return _env_from_manifest(Path(env_dir), data)


def _candidate_dirs(framework: str, root: Path | str | None) -> list[Path]:
    spec = spec_for(framework)
    base = env_root(root)
    flavors = ["cuda", "cpu"] if has_nvidia_gpu() else ["cpu", "cuda"]
    return [base / env_dir_name(spec.framework, spec.version, f) for f in ["external", *flavors]]


def get_env(framework: str, root: Path | str | None = None) -> Env | None:
    """The env to use for `framework` at its pinned version, or None when none is installed.

    Preference: an external interpreter the user registered, then the torch flavor
    that fits this machine (cuda when nvidia-smi works), then the other flavor.
    """
    for env_dir in _candidate_dirs(framework, root):
        env = load_env(env_dir)
        if env is not None:
            return env
    return None


def probe(python: Path | str, framework: str, timeout: float = 120) -> dict:
    """Run env_probe.py with `python`: versions of the framework and its core packages."""
    spec = spec_for(framework)
    return run_json(python, "env_probe.py", [spec.module, spec.dist, *RECORDED_DISTS], timeout=timeout)


def check_health(env: Env) -> tuple[str, str]:
    """("ok" | "external" | "broken", detail) for an env: python present, framework importable."""
    if not env.python.exists():
        return "broken", f"python missing: {env.python}"
    spec = SPECS.get(env.framework)
    if spec is None:
        return "broken", f"unsupported framework {env.framework!r}"
    try:
        found = probe(env.python, env.framework, timeout=60)
    except ScriptError as exc:
        return "broken", f"python does not run: {exc}"
    version = found.get("packages", {}).get(spec.dist)
    if not found.get("module_found"):
        return "broken", f"import fails: {spec.module} not found"
    if version != env.version:
        return "broken", f"{spec.dist} {version} installed, manifest says {env.version}"
    return ("external", str(env.python)) if env.external else ("ok", "")


def list_envs(root: Path | str | None = None) -> list[EnvInfo]:
    """Every env folder under the env root with its size and health, sorted by name."""
    base = env_root(root)
    if not base.is_dir():
        return []
    out: list[EnvInfo] = []
    for env_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        data = read_manifest(env_dir)
        if data is None:
            framework, _, rest = env_dir.name.partition("-")
            if framework not in SPECS:
                continue
            version = rest.rsplit("-", 1)[0]
            out.append(EnvInfo(framework, version, env_dir, None, "broken", "no valid manifest (incomplete install?)"))
            continue
        env = _env_from_manifest(env_dir, data)
        health, detail = check_health(env)
        out.append(
            EnvInfo(
                framework=env.framework,
                version=env.version,
                path=env_dir,
                size_mb=data.get("size_mb"),
                health=health,
                detail=detail,
                torch_flavor=env.torch_flavor,
                python=env.python,
            )
        )
    return out


def use_external(framework: str, python: Path | str, root: Path | str | None = None) -> Env:
    """Register an interpreter where the framework is already installed (checked) as its env."""
    spec = spec_for(framework)
    python = Path(python).expanduser().absolute()  # not resolve(): a venv's python is a symlink
    where = "ftgen env use"
    if not python.exists():
        raise FtgenError([Problem(where, "--python", "interpreter not found", str(python))])
    try:
        found = probe(python, framework)
    except ScriptError as exc:
        raise FtgenError([Problem(where, "--python", f"interpreter does not run: {exc}", str(python))]) from None
    version = found.get("packages", {}).get(spec.dist)
    if not found.get("module_found") or version is None:
        raise FtgenError(
            [
                Problem(
                    where,
                    "--python",
                    f"{spec.dist} is not installed for this interpreter",
                    str(python),
                    f"an interpreter with {spec.dist}=={spec.version}",
                )
            ]
        )
    if version != spec.version:
        raise FtgenError(
            [
                Problem(
                    where,
                    "--python",
                    f"ftgen supports {spec.dist} {spec.version} only (its schemas are per version)",
                    f"{spec.dist} {version} at {python}",
                    f"{spec.dist}=={spec.version}",
                )
            ]
        )
    prefix = Path(found["prefix"])
    venv = prefix if found.get("prefix") != found.get("base_prefix") else None
    bin_dir = prefix / "bin" if (prefix / "bin").is_dir() else python.parent
    env_dir = env_root(root) / env_dir_name(spec.framework, spec.version, "external")
    env_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(
        env_dir,
        {
            "format": MANIFEST_FORMAT,
            "framework": spec.framework,
            "version": spec.version,
            "external": True,
            "python": str(python),
            "python_version": ".".join(map(str, found.get("python_version", []))),
            "venv": str(venv) if venv else None,
            "bin_dir": str(bin_dir),
            "torch_flavor": found.get("torch_flavor") or "unknown",
            "torch_build": found.get("torch_flavor"),
            "versions": dict(sorted(found.get("packages", {}).items())),
            "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "size_mb": None,
        },
    )
    env = load_env(env_dir)
    assert env is not None
    return env
