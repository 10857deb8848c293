"""Validate framework configs against the vendored schemas and, in its env, the framework's own validator."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import frameworks
from .configschema import default_version, load_schema, schema_path, validate_config
from .errors import FtgenError, Problem
from .frameworks import Hardware

if TYPE_CHECKING:
    from .envs import Env

__all__ = [  # the schema part lives in generator.configschema (what lint imports); re-exported here
    "default_version",
    "load_schema",
    "schema_path",
    "validate_config",
    "load_config",
    "validate_file",
    "native_validate",
    "native_validate_many",
    "classify",
    "NativeVerdict",
    "native_verdicts",
    "ConfigVerdict",
    "BuildVerdict",
    "validate_build",
    "validate_builds",
]

# ----------------------------------------------------------------------------------------------
# reading configs the way each framework reads them


def load_config(path: Path | str, framework: str) -> dict:
    """Parse a config file as its framework does (its YAML dialect: PyYAML's safe loader, or OmegaConf's floats),
    through generator._yaml (the one safe reader: regular files only, size, depth and alias limits)."""
    path = Path(path)
    data = frameworks.get(framework).dialect.load_file(path)
    if not isinstance(data, dict):
        raise FtgenError(
            [Problem(str(path), "", "config must be a mapping of keys to values", type(data).__name__, "mapping")]
        )
    return data


def validate_file(framework: str, path: Path | str, version: str | None = None) -> list[Problem]:
    """Load a config file and validate it against the schema; YAML errors come back as Problems."""
    try:
        cfg = load_config(path, framework)
    except FtgenError as exc:
        return exc.problems
    return validate_config(framework, cfg, str(path), version)


# ----------------------------------------------------------------------------------------------
# the framework's own validator, run inside its env

NOT_CHECKED = "not-checked-here"  # the rule of a native refusal that is a fact of this machine, not of the config


@dataclass(frozen=True)
class NativeVerdict:
    """The framework's own validator on one config: accepted, refused (config errors), or not checked here
    (the validator refused for a reason that is a fact of this machine: no GPU, a package the env lacks)."""

    framework: str
    path: str
    errors: tuple[Problem, ...] = ()
    not_checked: str | None = None  # why, when the config could not be judged here
    machine: tuple[Problem, ...] = ()  # the refusals that were about the machine, as the validator said them

    @property
    def status(self) -> str:
        if self.errors:
            return "refused"
        return "not checked here" if self.not_checked else "accepted"

    def to_dict(self) -> dict:
        return {
            "framework": self.framework,
            "path": self.path,
            "status": self.status,
            "errors": [p.to_dict() for p in self.errors],
            "not_checked": self.not_checked,
            "machine": [p.to_dict() for p in self.machine],
        }


def classify(framework: str, problems: Iterable[Problem]) -> tuple[list[Problem], list[tuple[str, Problem]]]:
    """(config errors, [(machine reason, problem)]): which native refusals are about the config."""
    fw = frameworks.get(framework)
    errors, machine = [], []
    for p in problems:
        reason = NOT_CHECKED_REASON.get(p.rule or "") or fw.machine_reason(p.message)
        (machine.append((reason, p)) if reason else errors.append(p))
    return errors, machine


NOT_CHECKED_REASON = {"validator-did-not-run": "the framework's own validator could not run in its env"}


def native_verdicts(
    framework: str,
    paths: Iterable[Path | str],
    env: Env,
    *,
    hardware: Hardware | None = None,
    timeout: float = 900,
) -> dict[str, NativeVerdict]:
    """The framework's own verdict on each config, judged for `hardware` (the plan's GPU; None: this machine)."""
    fw = frameworks.get(framework)
    request = fw.native_request(hardware)
    results = native_validate_many(
        framework,
        paths,
        env,
        target=request.get("target", "host"),
        capabilities=request.get("capabilities"),
        timeout=timeout,
    )
    out = {}
    for path, problems in results.items():
        errors, machine = classify(framework, problems)
        reason = "; ".join(dict.fromkeys(r for r, _ in machine)) or None
        out[path] = NativeVerdict(framework, path, tuple(errors), reason, tuple(p for _, p in machine))
    return out


def native_validate_many(
    framework: str,
    paths: Iterable[Path | str],
    env: Env,
    *,
    target: str = "host",
    capabilities: dict | None = None,
    timeout: float = 900,
) -> dict[str, list[Problem]]:
    """Run the framework's own validator on many config files in ONE process of its env.

    Returns {path: problems}; [] where the framework accepted the config. `target`
    "host" judges the config for this machine, as `axolotl train` / `llamafactory-cli
    train` would here (on a CPU machine bf16 is refused); "gpu" judges it for an
    Ampere+ GPU (lint of GPU configs on a CPU machine). `capabilities` (Axolotl: bf16, fp8,
    tf32, n_gpu, compute_capability) override the target's. `classify` / `native_verdicts`
    tell the refusals about this machine from those about the config.
    """
    from .envs import ScriptError, run_json

    fw = frameworks.get(framework)
    paths = [str(Path(p).absolute()) for p in paths]
    if not paths:
        return {}
    if target not in ("host", "gpu"):
        raise FtgenError([Problem("ftgen", "target", "unknown validation target", target, "host, gpu")])
    request: dict = {"paths": paths, "target": target}
    if capabilities is not None:
        request["capabilities"] = capabilities
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="ftgen-native-") as cwd:  # anything it writes lands here
            out = run_json(
                env.python,
                fw.native_script,
                stdin=json.dumps(request),
                env=env.subprocess_env(),
                timeout=timeout,
                cwd=cwd,
            )
    except ScriptError as exc:
        problem = Problem(
            str(env.python),
            "",
            f"{framework}'s own validator could not run: {exc}",
            allowed=f"check the env: ftgen env list; reinstall: ftgen env install {framework} --force",
            rule="validator-did-not-run",
        )
        return {p: [problem] for p in paths}
    results: dict[str, list[Problem]] = {}
    for path in paths:
        items = out.get("results", {}).get(path, [])
        results[path] = [
            Problem(
                path,
                item.get("key", ""),
                f"{framework} {env.version}: {item.get('message', '')}",
                item.get("found"),
                item.get("allowed"),
            )
            for item in items
        ]
    return results


def native_validate(framework: str, config_path: Path | str, env: Env, **kw) -> list[Problem]:
    """Run the framework's own validator on one config file inside its env; [] when accepted."""
    path = str(Path(config_path).absolute())
    return native_validate_many(framework, [path], env, **kw)[path]


# ----------------------------------------------------------------------------------------------
# a build folder: schema, then the framework's own validator, judged for the plan's hardware


@dataclass(frozen=True)
class ConfigVerdict:
    """One config of a build: schema-valid (else validate_build raises), and the native verdict."""

    framework: str
    version: str
    config: str
    status: str  # accepted | refused | not checked here
    errors: tuple[Problem, ...] = ()
    not_checked: str | None = None
    judged_for: str = ""  # " (judged for 8 x H100-80GB)"

    def to_dict(self) -> dict:
        return {
            "framework": self.framework,
            "version": self.version,
            "config": self.config,
            "schema": "ok",
            "native": self.status,
            "not_checked": self.not_checked,
            "judged_for": self.judged_for.strip(" ()").removeprefix("judged for ") or None,
            "errors": [p.to_dict() for p in self.errors],
        }


@dataclass(frozen=True)
class BuildVerdict:
    build: str
    configs: tuple[ConfigVerdict, ...]

    @property
    def refused(self) -> bool:
        return any(c.status == "refused" for c in self.configs)

    @property
    def not_checked(self) -> bool:
        return any(c.status == "not checked here" for c in self.configs)

    def to_dict(self) -> dict:
        return {
            "build": self.build,
            "ok": not self.refused,
            "all_checked": not self.not_checked,
            "configs": [c.to_dict() for c in self.configs],
        }


def validate_build(build_dir: Path, framework: str | None = None, env_root: Path | None = None) -> BuildVerdict:
    """Schema-check every config of a build (FtgenError on errors), then run each framework's own validator on
    the config a run would use, judged for the hardware the plan targets."""
    return validate_builds([Path(build_dir)], framework, env_root)[0]


def validate_builds(
    build_dirs: Iterable[Path], framework: str | None = None, env_root: Path | None = None
) -> list[BuildVerdict]:
    """validate_build for many builds, with one validator process per framework and target hardware."""
    import tempfile

    from . import envs
    from .envs._needs import problems as missing_modules
    from .plan import Plan
    from .render._yamlsafe import yaml_document
    from .run import prepare, run_config

    jobs = []  # (build, framework, prepared config, hardware)
    for build_dir in map(Path, build_dirs):
        first = prepare(build_dir, framework) if framework else None
        plan = Plan.from_dict(first.plan if first else _plan_json(build_dir))
        hardware = Hardware.from_plan_facts(plan.facts)
        for name in [framework] if framework else list(plan.frameworks):
            prep = first if first and first.framework == name else prepare(build_dir, name)  # schema errors raise
            jobs.append((build_dir, name, prep, hardware))
    verdicts: dict[int, ConfigVerdict] = {}
    with tempfile.TemporaryDirectory(prefix="ftgen-validate-") as tmp:
        groups: dict[tuple, list[tuple[int, Path]]] = {}
        for i, (_, name, prep, hardware) in enumerate(jobs):
            fw = frameworks.get(name)
            env = envs.get_env(name, env_root)
            if env is None:
                why = f"no {fw.label} env on this machine (ftgen env install {name})"
                verdicts[i] = ConfigVerdict(name, fw.version, str(prep.config_path), "not checked here", (), why)
                continue
            run_dir = Path(tmp) / str(i)
            run_dir.mkdir()
            resolved = run_dir / fw.config_name
            cfg = run_config(prep, run_dir)
            # a GPU env that cannot import what the config needs would fail the run: a fact of this machine's env,
            # said with the install command. A CPU env is not where GPU plans run, so it is judged as before.
            cuda = getattr(env, "torch_flavor", "cpu") == "cuda"
            lacking = missing_modules(name, cfg, env, str(prep.config_path)) if cuda else []
            if lacking:
                why = "; ".join(f"{p.message} ({p.allowed})" for p in lacking)
                verdicts[i] = ConfigVerdict(name, fw.version, str(prep.config_path), "not checked here", (), why)
                continue
            resolved.write_text(yaml_document(cfg), encoding="utf-8")
            key = (name, json.dumps(fw.native_request(hardware), sort_keys=True))
            groups.setdefault(key, []).append((i, resolved))
        for (name, _), items in groups.items():
            env = envs.get_env(name, env_root)
            hardware = jobs[items[0][0]][3]
            found = native_verdicts(name, [p for _, p in items], env, hardware=hardware)
            for i, resolved in items:
                verdict = found[str(resolved.absolute())]
                prep = jobs[i][2]
                errors = tuple(
                    Problem(str(prep.config_path), p.key, p.message, p.found, p.allowed, p.severity, p.rule, p.line)
                    for p in verdict.errors
                )
                verdicts[i] = ConfigVerdict(
                    name,
                    env.version,
                    str(prep.config_path),
                    verdict.status,
                    errors,
                    verdict.not_checked,
                    _judged_for(hardware),
                )
    out: dict[Path, list[ConfigVerdict]] = {}
    for i, (build_dir, *_rest) in enumerate(jobs):
        out.setdefault(build_dir, []).append(verdicts[i])
    return [BuildVerdict(str(b), tuple(out.get(Path(b), ()))) for b in map(Path, build_dirs)]


def _judged_for(hardware: Hardware | None) -> str:
    if hardware is None or hardware.cpu:
        return ""
    return f" (judged for {hardware.gpus} x {hardware.gpu})" if hardware.gpus > 1 else f" (judged for {hardware.gpu})"


def _plan_json(build_dir: Path) -> dict:
    path = build_dir / "plan.json"
    if not path.is_file():
        raise FtgenError(
            [
                Problem(
                    str(build_dir),
                    "",
                    "not an ftgen build folder (no plan.json)",
                    allowed="a folder written by `ftgen build`, e.g. outputs/<name>",
                )
            ]
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FtgenError([Problem(str(path), "", f"plan.json is not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise FtgenError([Problem(str(path), "", "plan.json is not a JSON object", type(data).__name__, "object")])
    return data
