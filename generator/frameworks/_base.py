"""The Framework protocol: what ftgen knows about one training framework, and the table-driven parts they share.

A framework module (generator/frameworks/<name>.py) subclasses `Framework`, fills in its facts and its key table,
overrides the hooks where its CLI, files or validator differ, and exports one instance as FRAMEWORK.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._dialect import PYYAML, Dialect
from ._table import Reading, Row, Untranslatable, Values, Where, Written

TORCHRUN_PORT = 29500  # torchrun's default rendezvous port


@dataclass(frozen=True)
class Step:
    """One install step: a virtualenv, a `pip install`, or a named file action.

    `pip` holds the arguments after `python -m pip install`; "{torch}" stands for the torch requirement of the
    chosen flavor and "@file" for the requirement lines of a file in generator/envs/_data/. `flavors` lists the
    torch flavors the step is for (the GPU extras: cuda only).
    """

    description: str
    pip: tuple[str, ...] = ()
    action: str | None = None  # "venv" | "strip-torchaudio-libs"
    flavors: tuple[str, ...] = ("cpu", "cuda")


@dataclass(frozen=True)
class Need:
    """A module a config needs in the framework's env: the config key that asks for it and the pip arguments that
    install it (after `python -m pip install`)."""

    module: str
    key: str
    why: str
    pip: tuple[str, ...]


@dataclass(frozen=True)
class EnvSpec:
    """One supported environment: a framework at one pinned version."""

    framework: str
    version: str
    dist: str  # distribution name on the package registry
    module: str  # import name
    python: str  # Python requirement, e.g. ">=3.10,<3.12"
    steps: tuple[Step, ...]
    clis: tuple[str, ...]


@dataclass(frozen=True)
class Traits:
    """How the framework treats a config it does not expect, as lint reports it.

    unknown_keys: "dropped" (validated away silently) or "refused" (the validator stops; unknown_refusal quotes it).
    type_errors: when a wrongly typed value fails: "validate" (before training) or "train" (during it).
    precision_conflict: when fp16 and bf16 both true fail: "validate" or "train".
    bool_as_int: the validator takes true/false for an integer field.
    multi_process_on_cpu: more than one training process runs on a CPU machine.
    """

    unknown_keys: str
    type_errors: str
    precision_conflict: str
    bool_as_int: bool = False
    multi_process_on_cpu: bool = True
    unknown_refusal: str = ""  # the validator's words when it refuses an unknown key
    missing_model: str = ""  # the validator's words when the model key is missing (when the schema cannot say)
    missing_model_source: str = ""


@dataclass(frozen=True)
class Refusal:
    """A plan this framework cannot run, with the spec key to change and what would work."""

    key: str
    message: str
    found: Any = None
    allowed: str | None = None


@dataclass(frozen=True)
class Hardware:
    """The hardware a config is judged for: the plan's GPU (or CPU) and how many."""

    gpu: str = "CPU"
    cpu: bool = True
    bf16: bool = False
    fp8: bool = False
    gpus: int = 1  # GPUs in total (world size)

    @classmethod
    def from_plan_facts(cls, facts: Mapping[str, Any] | None) -> Hardware | None:
        """From plan.json's `facts` (None when they do not say; older plan.json files)."""
        gpu = (facts or {}).get("gpu") if isinstance(facts, Mapping) else None
        if not isinstance(gpu, Mapping) or not gpu.get("name"):
            return None
        name = str(gpu["name"])
        cpu = bool(gpu.get("is_cpu", name.upper() == "CPU"))
        return cls(
            gpu=name,
            cpu=cpu,
            bf16=bool(gpu.get("bf16")) and not cpu,
            fp8=bool(gpu.get("fp8")) and not cpu,
            gpus=int(gpu.get("count") or 1),
        )


class Framework:
    """Everything ftgen knows about one framework. Subclasses set the facts below and may override hooks."""

    name: str = ""
    label: str = ""  # how people write its name
    version: str = ""  # the pinned version whose schema ftgen ships
    config_name: str = ""  # the file `ftgen build` writes
    extra_files: tuple[str, ...] = ()  # other files a build writes beside the config (e.g. dataset_info.json)
    model_keys: tuple[str, ...] = ()  # config keys that name the model (or its config/tokenizer) to load
    cli: str = ""  # the command that trains
    env: EnvSpec
    cli_args: str = ""  # how extra command-line arguments override config keys ("key=value")
    launch_sh: str = ""  # launch.sh's case for this framework: a jinja template (ctx, config; filter q)
    quiet_env: Mapping[str, str] = {}  # variables that turn its telemetry and update checks off
    dialect: Dialect = PYYAML
    templates: Mapping[str, str] = {}  # prompt format -> this framework's template name
    rows: tuple[Row, ...] = ()
    local: Mapping[str, str] = {}  # config keys with no framework-neutral meaning -> why
    absent: Mapping[str, str] = {}  # neutral fields this framework has no key for -> why
    markers: tuple[str, ...] = ()  # keys that name this framework on their own (detection)
    v1_markers: tuple[str, ...] = ()  # keys of another config format of this framework (two of them name it)
    targets: Mapping[str, tuple[str, ...]] = {}  # task -> methods ftgen compiles and runs
    unsupported: Mapping[str, str] = {}  # task -> why not
    # (task, method) -> the e2e test that trains it: "cell" (tests/run/test_targets_e2e.py, a few CPU steps) or
    # "run" (tests/run/test_run_e2e.py, 24 steps, the loss must fall); generator/targets.py makes the test ids
    proven: Mapping[tuple[str, str], str] = {}
    unproven: Mapping[tuple[str, str], str] = {}  # (task, method) claimed but no run here proves it -> why
    preferred: Mapping[str, str] = {}  # task -> why `framework: auto` picks this framework for it
    traits: Traits
    schema_dir: Path | None = None  # where <name>-<version>.schema.json is (None: ftgen's schemas/)
    native_script: str = ""  # generator/_env_scripts/<script> run in the framework's env: its own validator
    schema_script: str = ""  # generator/_env_scripts/<script> that writes its JSON Schema (scripts/gen_schemas.py)
    machine_facts: tuple[tuple[re.Pattern[str], str], ...] = ()  # native refusals about the machine -> reason

    def __repr__(self) -> str:
        return f"<framework {self.name} {self.version}>"

    # ------------------------------------------------------------------------------------------ schema

    def schema(self, version: str | None = None) -> dict:
        from ..validate import load_schema

        return load_schema(self.name, version)

    # ------------------------------------------------------------------------------------------ the key table

    def rows_for(self, field: str) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if field in r.fields)

    def key_of(self, field: str) -> str | None:
        """The config key of a field carried one-to-one (None when no row or several keys carry it)."""
        for r in self.rows:
            if r.one_to_one and r.fields[0] == field:
                return r.keys[0]
        return None

    def keys(self) -> frozenset[str]:
        """Every config key the table reads."""
        return frozenset(k for r in self.rows for k in r.keys)

    @property
    def sections(self) -> tuple[str, ...]:
        """Config sections in the order the table lists them."""
        return tuple(dict.fromkeys(r.section for r in self.rows))

    def read(self, cfg: Mapping[str, Any], where: Where | None = None) -> Reading:
        """The neutral fields of a config; keys nothing reads land in `untranslated` (with why, where known)."""
        reading = Reading()
        if not isinstance(cfg, Mapping):
            return reading
        where = where or Where()
        for r in self.rows:
            r.read(cfg, reading, where)
        known = self.keys()
        for key, value in cfg.items():
            if key in known or value is None:
                continue
            reading.untranslated.setdefault(str(key), self.local.get(key))
        return reading

    def write(self, values: Values, where: Where | None = None) -> Written:
        """Config keys for plan values / neutral fields, in table order; fields no row carries are listed."""
        where = where or Where()
        out = Written()
        carried: set[str] = set()
        for r in self.rows:
            try:
                keys = r.write(values, where)
            except Untranslatable as exc:
                for name in r.fields:
                    if values.get(name) is not None:
                        out.untranslated[name] = exc.why
                continue
            if keys is None:
                continue
            carried.update(f for f in r.fields if f in values)
            for key, value in keys.items():
                if isinstance(value, list) and isinstance(out.config.get(key), list):  # two rows add plugins
                    value = out.config[key] + [v for v in value if v not in out.config[key]]
                else:
                    out.by[key] = r
                out.config[key] = value
        for name, value in values.items():
            if name not in carried and value is not None:
                out.untranslated.setdefault(name, self.absent.get(name))
        out.files, out.notes = dict(where.files), list(where.notes)
        return out

    def defaults(self, fields: Values) -> dict[str, Any]:
        """Neutral values this framework uses where a config leaves a field unset (from the schema's defaults
        of one-to-one keys, and `stated_defaults` for the rest)."""
        props = self.schema().get("properties", {})
        out: dict[str, Any] = {}
        for r in self.rows:
            if not r.one_to_one or r.keys[0] not in props:
                continue
            default = props[r.keys[0]].get("default")
            if default is None:
                continue
            reading = Reading()
            r.read({r.keys[0]: default}, reading, Where())
            if r.fields[0] in reading.fields:
                out.setdefault(r.fields[0], reading.fields[r.fields[0]])
        out.update(self.stated_defaults(fields))
        return out

    def stated_defaults(self, fields: Values) -> dict[str, Any]:
        """Defaults the schema cannot state: rows' `implied` values and the framework's `implied`."""
        out = {}
        for r in self.rows:
            if r.implied is not None:
                value = r.implied(fields)
                if value is not None:
                    out.setdefault(r.fields[0], value)
        out.update(self.implied(fields))
        return out

    def implied(self, fields: Values) -> dict[str, Any]:
        """Defaults that depend on other fields (LLaMA-Factory's lora_alpha is 2 x lora_rank)."""
        return {}

    eval_data_key: str = ""  # the key that names evaluation datasets (beside the held-out fraction)
    lint_checks: Mapping[str, Any] = {}  # lint rule id -> this framework's half of a rule (fn(ctx))

    def lint(self, rule_id: str, ctx) -> None:
        """Run this framework's part of a domain lint rule (what its own validator checks), if it has one."""
        check = self.lint_checks.get(rule_id)
        if check is not None:
            check(ctx)

    def imports(self, cfg: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """(key path inside the config, module) for every module the framework imports because the config names
        it (plugins, custom dataset loaders, reward functions, ...): code that runs with the trainer's rights."""
        return iter(())

    def accepts_union_key(self, pattern: str) -> bool:
        """Whether a key the schema calls unknown (`datasets[].x`) belongs to another branch of a union the
        framework validates entry by entry."""
        return False

    def trains(self, cfg: Mapping[str, Any]) -> bool:
        """Whether a config trains (an export or predict config does not)."""
        return True

    # ------------------------------------------------------------------------------------------ planning

    def model_template(self, card) -> str | None:
        """The model's prompt template as this framework names it (model catalog)."""
        return None

    def uses_template(self, task: str, formats: tuple[str, ...], chat: bool = False) -> bool:
        """Whether a config for `task` on data in `formats` names a prompt template (`chat`: the model has a chat
        template; a base model trains on alpaca prompts)."""
        return False

    def needs(self, config: Mapping[str, Any]) -> list[Need]:
        """Modules this config imports beyond the framework's own requirements (DeepSpeed, Liger, flash-attn)."""
        return []

    def refusals(self, values: Values, cpu: bool, world: int) -> list[Refusal]:
        """Plans this framework cannot run (e.g. a sharding strategy it has no launcher for)."""
        return []

    def master_dtype(self, method: str) -> str:
        """The dtype the optimizer updates for `method` ("auto": the memory model's default)."""
        return "auto"

    # ------------------------------------------------------------------------------------------ running

    def run_config(self, cfg: dict, build_dir: Path, run_dir: Path, resume_from: str | None = None) -> dict:
        """The config a run really uses: output_dir inside the run, local paths absolute."""
        cfg = json.loads(json.dumps(cfg))  # a deep copy of plain data
        model = self.key_of("base_model")
        if model and isinstance(cfg.get(model), str):
            cfg[model] = absolute_if_local(cfg[model], build_dir)
        if cfg.get("deepspeed"):
            cfg["deepspeed"] = absolute_if_local(cfg["deepspeed"], build_dir)
        cfg[self.key_of("output_dir") or "output_dir"] = str(run_dir / "model")
        if resume_from:
            cfg["resume_from_checkpoint"] = resume_from
        return cfg

    def dataset_files(self, cfg: Mapping[str, Any]) -> list[Path]:
        """The local data files a run config reads (for the run record's hashes)."""
        return []

    def native_request(self, hardware: Hardware | None) -> dict:
        """What the native validator script needs to judge a config for `hardware` (None: this machine)."""
        if hardware is None or hardware.cpu:
            return {"target": "host"}
        return {"target": "gpu"}

    def machine_reason(self, message: str) -> str | None:
        """Why a native refusal is a fact of this machine rather than of the config (None: about the config)."""
        for pattern, reason in self.machine_facts:
            if pattern.search(message):
                return reason
        return None

    def prompt_format(self, cfg: Mapping[str, Any]) -> dict:
        """How training formatted prompts, read from the run's config (plain data for generate.py)."""
        raise unsupported_prompt(self, "", None, "a config ftgen can read prompts from")

    def merge_command(self, run_dir: Path, cfg: Mapping[str, Any], env) -> tuple[list[str], Path, dict[str, dict]]:
        """(argv, merged model folder, files to write first) that merge a run's LoRA adapter into its base."""
        raise NotImplementedError(f"{self.label} has no merge command in ftgen")

    def launch_problems(
        self, config_path: Path, launcher: str, world: int, cpu: bool
    ) -> list[tuple[str, str, Any, str]]:
        """Launches that cannot work: (key, message, found, allowed)."""
        return []

    def launch_command(
        self,
        config: str,
        env,
        *,
        distributed: bool,
        deepspeed: bool,
        nproc: int,
        nnodes: int,
        node_rank: int,
        master_addr: str | None,
        master_port: int | None,
    ) -> tuple[list[str], dict[str, str]]:
        """argv and extra environment variables that train `config` here."""
        raise NotImplementedError


def absolute_if_local(value: Any, base: Path) -> Any:
    """A relative path that exists under `base`, made absolute; anything else unchanged."""
    if not isinstance(value, str) or not value:
        return value
    p = Path(value)
    if p.is_absolute():
        return value
    candidate = base / p
    return str(candidate.resolve()) if candidate.exists() else value


def unsupported_prompt(fw: Framework, key: str, found: Any, allowed: str):
    from ..errors import FtgenError, Problem

    return FtgenError(
        [Problem(f"<{fw.name} config>", key, "eval cannot tell how training formatted prompts", found, allowed)]
    )


__all__ = [
    "EnvSpec",
    "Framework",
    "Hardware",
    "Need",
    "Reading",
    "Refusal",
    "Row",
    "Step",
    "Traits",
    "Untranslatable",
    "Where",
    "Written",
]
