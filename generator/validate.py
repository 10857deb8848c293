"""Validate framework configs against the vendored schemas and, in its env, the framework's own validator."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import frameworks
from ._fastschema import quick_valid
from ._resources import schemas_dir
from .errors import FtgenError, Problem
from .frameworks import Hardware
from .frameworks._dialect import OMEGACONF_FLOAT

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    from .envs import Env

_LIST_LIMIT = 20  # enum lists longer than this are shown as close matches + a count
_INT_STRING = re.compile(r"^\s*[-+]?[0-9]+(?:_[0-9]+)*\s*$")


def default_version(framework: str) -> str:
    """The pinned framework version whose schema ftgen ships."""
    return frameworks.get(framework).version


def _check_framework(framework: str) -> None:
    frameworks.get(framework)


def schema_path(framework: str, version: str | None = None) -> Path:
    """The vendored schema file of a framework version (in schemas/, or the framework's own schema_dir)."""
    fw = frameworks.get(framework)
    return (fw.schema_dir or schemas_dir()) / f"{framework}-{version or fw.version}.schema.json"


@cache
def load_schema(framework: str, version: str | None = None) -> dict:
    """The vendored JSON Schema of a framework version (cached)."""
    _check_framework(framework)
    path = schema_path(framework, version)
    if not path.is_file():
        have = sorted(p.name.removesuffix(".schema.json") for p in path.parent.glob(f"{framework}-*.schema.json"))
        raise FtgenError(
            [Problem(str(path), "", "no schema for this framework version", version, ", ".join(have) or None)]
        )
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# numeric strings: the schema's x-ftgen.numeric_strings says whether the framework converts them


def _numeric_string_policy(schema: dict) -> str:
    policy = schema.get("x-ftgen", {}).get("numeric_strings", {})
    if not policy.get("accepted"):
        return "none"
    return policy.get("mode", "lax")


def _is_number_string(instance: Any, policy: str) -> bool:
    if not isinstance(instance, str) or policy == "none":
        return False
    if policy == "omegaconf":
        return bool(OMEGACONF_FLOAT.match(instance))
    try:
        float(instance.replace("_", ""))
    except ValueError:
        return False
    return True


def _as_number(instance: Any) -> Any:
    if isinstance(instance, bool):
        return int(instance)
    if isinstance(instance, str):
        try:
            text = instance.strip().replace("_", "")
            return int(text) if _INT_STRING.match(instance) else float(text)
        except ValueError:
            return instance
    return instance


@cache
def _validator_for(framework: str, version: str | None) -> Draft202012Validator:
    from jsonschema import Draft202012Validator, validators  # only to word errors: _fastschema says valid first

    schema = load_schema(framework, version)
    policy = _numeric_string_policy(schema)
    base = Draft202012Validator
    if policy == "none":
        return base(schema)

    lax = policy == "lax"  # pydantic lax mode: numeric strings and booleans convert to numbers

    def is_number(checker, instance):
        if base.TYPE_CHECKER.is_type(instance, "number") or _is_number_string(instance, policy):
            return True
        return lax and isinstance(instance, bool)

    def is_integer(checker, instance):
        if base.TYPE_CHECKER.is_type(instance, "integer"):
            return True
        return lax and (isinstance(instance, bool) or (isinstance(instance, str) and bool(_INT_STRING.match(instance))))

    checker = base.TYPE_CHECKER.redefine_many({"number": is_number, "integer": is_integer})

    def numeric(keyword):
        original = base.VALIDATORS[keyword]

        def check(validator, value, instance, schema_):
            yield from original(validator, value, _as_number(instance), schema_)

        return check

    cls = validators.extend(
        base,
        validators={
            k: numeric(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
        },
        type_checker=checker,
    )
    return cls(schema)


# ----------------------------------------------------------------------------------------------
# jsonschema errors -> Problems


def key_path(parts: Iterable[Any]) -> str:
    """["datasets", 0, "type"] -> "datasets[0].type"."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return " or ".join(map(str, value))
    return str(value)


def _format_choices(values: list, found: Any = None) -> str:
    shown = [("null" if v is None else str(v)) for v in values]
    if len(shown) <= _LIST_LIMIT:
        return ", ".join(shown)
    close = difflib.get_close_matches(str(found), [s for s in shown if s != "null"], n=5, cutoff=0.6) if found else []
    head = f"did you mean {', '.join(close)}? " if close else ""
    return f"{head}one of {len(shown)} values: " + ", ".join(shown[:_LIST_LIMIT]) + ", ..."


def _describe_branch(schema: dict) -> list[str]:
    """Short words for what one anyOf branch accepts."""
    if "enum" in schema:
        return [("null" if v is None else str(v)) for v in schema["enum"]]
    if "const" in schema:
        return [str(schema["const"])]
    if "pattern" in schema and schema.get("type") == "string":
        return [f"a string matching {schema['pattern']}"]
    if "type" in schema:
        t = schema["type"]
        return [_type_name(t)] if not isinstance(t, list) else [str(x) for x in t]
    if "$ref" in schema:
        return [schema["$ref"].rsplit("/", 1)[-1]]
    return []


def _enum_values(schema: dict) -> list:
    """Every enum value reachable through anyOf/oneOf branches (for close matches)."""
    out: list = []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        out.extend(branch.get("enum", []))
        if "const" in branch:
            out.append(branch["const"])
    out.extend(schema.get("enum", []))
    return out


def _problems(error: ValidationError, file: str) -> list[Problem]:
    path = list(error.absolute_path)
    key = key_path(path)
    kind = error.validator
    found = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    spath = list(error.absolute_schema_path)

    if spath and spath[0] == "dependentSchemas":
        trigger = spath[1]
        if error.validator == "contains":
            plugins = error.validator_value.get("enum", [])
        else:
            plugins = schema.get("properties", {}).get("plugins", {}).get("contains", {}).get("enum", [])
        return [
            Problem(
                file,
                trigger,
                "key only works with its plugin listed under `plugins` (ignored otherwise)",
                trigger,
                "add to plugins: " + ", ".join(p for p in plugins if p.count(".") == 3) if plugins else None,
            )
        ]
    if kind == "additionalProperties" and isinstance(found, dict):
        known = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        out = []
        for name in found:
            if name in known or any(p.search(name) for p in patterns):
                continue
            close = difflib.get_close_matches(str(name), sorted(known), n=3, cutoff=0.75)
            out.append(
                Problem(
                    file,
                    _join(key, str(name)),
                    "unknown key",
                    None,
                    ("did you mean " + ", ".join(close) + "?") if close else None,
                )
            )
        return out
    if kind == "required":
        missing = [m for m in error.validator_value if isinstance(found, dict) and m not in found]
        return [Problem(file, _join(key, m), "missing required key", None, None) for m in missing]
    if kind == "enum":
        return [Problem(file, key, "value not allowed", found, _format_choices(list(error.validator_value), found))]
    if kind == "const":
        return [Problem(file, key, "value not allowed", found, str(error.validator_value))]
    if kind == "type":
        return [Problem(file, key, "wrong type", found, _type_name(error.validator_value))]
    if kind in ("anyOf", "oneOf"):
        return _problems_any_of(error, file)
    if kind in ("minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern"):
        words = {
            "minItems": "at least {} items",
            "maxItems": "at most {} items",
            "minimum": ">= {}",
            "maximum": "<= {}",
            "exclusiveMinimum": "> {}",
            "exclusiveMaximum": "< {}",
            "pattern": "a string matching {}",
        }
        return [
            Problem(
                file,
                key,
                "value out of range" if "imum" in kind else "invalid value",
                found,
                words[kind].format(error.validator_value),
            )
        ]
    return [Problem(file, key, error.message, found, None)]


def _problems_any_of(error: ValidationError, file: str) -> list[Problem]:
    key = key_path(error.absolute_path)
    found = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    # A branch whose errors lie deeper than the value itself matched its shape (e.g. the object
    # branch of a dataset entry): report those errors, not the branch alternatives.
    deep = {i: errs for i, errs in branches.items() if any(len(e.relative_path) > 0 for e in errs)}
    shallow_only = {i: errs for i, errs in branches.items() if i not in deep}
    if deep and not any(_type_matches(errs, found) for errs in shallow_only.values()):
        best = min(deep.values(), key=len)
        out: list[Problem] = []
        for sub in best:
            out.extend(_problems(sub, file))
        return _dedupe(out)
    # nested anyOf / typed branch where the type matched: descend into that branch only
    typed = [errs for errs in branches.values() if _type_matches(errs, found)]
    if len(typed) == 1 and all(e.validator in ("anyOf", "oneOf", "additionalProperties", "required") for e in typed[0]):
        out = []
        for sub in typed[0]:
            out.extend(_problems(sub, file))
        return _dedupe(out)
    allowed_text = schema.get("x-ftgen-allowed")
    choices: list[str] = []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        for word in _describe_branch(branch):
            if word not in choices:
                choices.append(word)
    enum_values = _enum_values(schema)
    for sub in error.context or []:  # enums behind a $ref (e.g. RLType) surface as the branch's enum error
        if sub.validator == "enum" and len(sub.relative_path) == 0:
            enum_values.extend(v for v in sub.validator_value if v not in enum_values)
    if allowed_text:
        close = difflib.get_close_matches(str(found), [str(v) for v in enum_values if v is not None], n=3, cutoff=0.6)
        allowed = (f"did you mean {', '.join(close)}? " if close else "") + allowed_text
        return [Problem(file, key, "value not allowed", found, allowed)]
    if enum_values and (isinstance(found, str) or found is None):
        allowed = _format_choices(list(dict.fromkeys(enum_values)), found)
        return [Problem(file, key, "value not allowed", found, allowed)]
    only_types = all(
        all(e.validator == "type" and len(e.relative_path) == 0 for e in errs) for errs in branches.values()
    )
    return [
        Problem(file, key, "wrong type" if only_types else "wrong type or value", found, ", ".join(choices) or None)
    ]


def _type_matches(errors: list[ValidationError], instance: Any) -> bool:
    """True when none of a branch's errors is about the value's own type."""
    return not any(e.validator == "type" and len(e.relative_path) == 0 for e in errors)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        ident = (p.key, p.message, repr(p.found), p.allowed)
        if ident not in seen:
            seen.add(ident)
            out.append(p)
    return out


def _sort_key(p: Problem) -> tuple:
    return (p.key, p.message)


def validate_config(framework: str, cfg: dict, file: str, version: str | None = None) -> list[Problem]:
    """Every problem of a parsed config against the vendored schema, one Problem per finding."""
    if not isinstance(cfg, dict):
        return [Problem(file, "", "config must be a mapping of keys to values", type(cfg).__name__, "mapping")]
    schema = load_schema(framework, version)
    if quick_valid(schema, cfg, numbers=_numeric_string_policy(schema)):
        return []  # no jsonschema import for a valid config
    validator = _validator_for(framework, version)
    problems: list[Problem] = []
    for error in validator.iter_errors(cfg):
        problems.extend(_problems(error, file))
    return sorted(_dedupe(problems), key=_sort_key)


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
