"""The build pipeline: spec -> facts -> plan -> rendered, validated configs -> files in outputs/<name>/."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2

from . import __version__, rules
from . import facts as facts_mod
from . import spec as spec_mod
from ._summary import lead_paragraph
from ._templates import environment
from .errors import FtgenError, Problem
from .facts.types import Facts
from .plan import Distributed, Plan, plain
from .render import Rendered, config_name, deepspeed, render
from .render._yamlsafe import UnsafeValue, yaml_value
from .spec import Spec
from .validate import validate_config


@dataclass(frozen=True)
class Build:
    """Everything one spec compiles to; `files` maps names inside out_dir to their text.

    `out_dir` is the output folder as the spec's root names it (what messages and reports show); `out_path` is
    where this process reads and writes it."""

    spec: Spec
    facts: Facts
    plan: Plan
    rendered: tuple[Rendered, ...]
    out_dir: Path
    files: dict[str, str] = field(default_factory=dict)

    @property
    def out_path(self) -> Path:
        return self.spec.located(self.out_dir)


SPEC_FOLDERS = ("examples", "specs")


def default_specs(root: Path = Path(".")) -> tuple[Path, ...]:
    """The specs `ftgen check` reads when given none: examples/*.yaml and specs/*.yaml under root, sorted."""
    return tuple(p for folder in SPEC_FOLDERS for p in sorted((Path(root) / folder).glob("*.yaml")))


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _one_line(value) -> str:
    """A decision's value on one line for PLAN.md: YAML flow style, or escaped JSON where YAML needs more lines
    (a dataset split with a line break in it)."""
    try:
        return yaml_value(value)
    except UnsafeValue:
        return json.dumps(plain(value), ensure_ascii=False, default=str)


@cache
def _plan_template() -> jinja2.Template:
    return environment({"md": _md, "y": _one_line}).get_template("plan/PLAN.md.j2")


def plan_markdown(b: Build, file_names: list[str]) -> str:
    hw = b.spec.hardware
    gpu = b.facts.gpu
    hardware = f"{hw.nodes} node(s) x {hw.gpus_per_node} x {gpu.name} ({gpu.vram_gb:g} GB)"
    return _plan_template().render(
        plan=b.plan,
        facts=b.facts,
        version=__version__,
        spec_name=Path(b.spec.file).name,
        spec_model_config=b.spec.model_config,
        hardware=hardware,
        files=file_names,
        summary=lead_paragraph(b.plan, b.facts, b.spec),
    )


def eval_set(spec: Spec, facts: Facts, out_dir: Path) -> dict | None:
    """The team's eval set as `ftgen run` / `ftgen eval` find it: a path relative to the build folder."""
    if spec.eval is None or facts.eval is None:
        return None
    path = Path(spec.eval.path)
    path = path if path.is_absolute() else spec.base_dir / path
    return {
        "path": Path(os.path.relpath(path.resolve(), Path(out_dir).resolve())).as_posix(),
        "sha256": facts.eval.sha256,
        "rows": facts.eval.rows,
        "max_new_tokens": spec.eval.max_new_tokens,
        "harness_tasks": list(spec.eval.harness_tasks),
    }


def plan_json(
    plan: Plan,
    spec: Spec,
    facts: Facts | None = None,
    out_dir: Path | None = None,
    files: list[str] | None = None,
) -> str:
    data = {"ftgen_version": __version__, "spec": Path(spec.file).name, "spec_sha256": spec.sha256, **plan.to_dict()}
    if facts is not None and out_dir is not None:
        data["eval_set"] = eval_set(spec, facts, out_dir)
    if out_dir is not None:
        from .tracking import from_plan

        tracked = from_plan(plan, spec, out_dir)
        if tracked is not None:  # the trackers as `ftgen run` needs them (store relative to this folder)
            data["tracking"] = tracked.to_dict()
    if files is not None:
        data["files"] = files  # every file this build writes: the next build removes those it no longer writes
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def _override_problems(problems: list[Problem], spec: Spec, framework: str) -> list[Problem]:
    """Findings on keys that came from framework_overrides point at the spec, where the user can fix them."""
    overrides = spec.framework_overrides.get(framework, {})
    out = []
    for p in problems:
        top = p.key.split(".")[0].split("[")[0]
        if top in overrides:
            key = f"framework_overrides.{framework}.{p.key}"
            out.append(Problem(spec.file, key, p.message, p.found, p.allowed, p.severity, p.rule, spec.line_of(key)))
        else:
            out.append(
                Problem(
                    p.file,
                    p.key,
                    "ftgen generated an invalid value (a bug, please report): " + p.message,
                    p.found,
                    p.allowed,
                    p.severity,
                    p.rule,
                    p.line,
                )
            )
    return out


def compile_spec(
    spec: Spec,
    out_root: Path = Path("outputs"),
    framework: str | None = None,
    *,
    frozen: bool = False,
    refresh: bool = False,
    files: bool = True,
    out_dir: Path | None = None,
) -> Build:
    """Compile a loaded spec in memory; nothing is written. Raises FtgenError listing every problem.

    out_dir: the build folder (default out_root/<name>; a sweep's trial: outputs/<name>/trials/<id>). A spec with
    a `sweep:` block adds every trial's build under trials/<id>/ and sweep.json to the files (generator/sweep.py).

    frozen: a hub model only from the spec's lock (check, review); refresh: resolve it again, ignoring the lock.
    The lock file the build implies is `build.facts.lock` (facts.lock.LockWrite); `ftgen build` writes it.
    files=False (ftgen estimate): the plan and the validated configs, without the launch files, plan.json and
    PLAN.md (Build.files stays empty); the verdict on the spec is the same.
    """
    if framework:
        spec = _with_framework(spec, framework)
    facts = facts_mod.resolve(spec, frozen=frozen, refresh=refresh)
    plan = rules.decide(spec, facts)
    out_dir = Path(out_root) / spec.name if out_dir is None else Path(out_dir)  # relative to spec.root, as spec.file
    out_path = spec.located(out_dir)
    rendered = []
    problems: list[Problem] = []
    for fw in plan.frameworks:
        r = render(plan, spec, facts, fw, out_path)
        found = validate_config(fw, r.config, str(out_dir / config_name(fw)))
        problems.extend(_override_problems([p for p in found if p.severity == "error"], spec, fw))
        rendered.append(r)
    if problems:
        raise FtgenError(problems)
    build = Build(spec, facts, plan, tuple(rendered), out_dir)
    if not files:
        return build
    written: dict[str, str] = {}
    for r in rendered:
        written[config_name(r.framework)] = r.text
        written.update(r.extra_files)
    dist = plan.get("distributed")
    if dist is not None and Distributed(dist).deepspeed:
        written[Distributed(dist).deepspeed_file] = deepspeed.text(dist)
    from .launch import generate as launch_files

    written.update(launch_files(build))
    if spec.sweep is not None:
        from . import sweep

        outcome = sweep.compile_trials(spec, out_dir, framework, frozen=frozen, refresh=refresh)
        written.update(sweep.files(spec, outcome))
    names = sorted(list(written) + ["plan.json", "PLAN.md"])
    written["plan.json"] = plan_json(plan, spec, facts, out_path, names)
    written["PLAN.md"] = plan_markdown(build, names)
    return Build(spec, facts, plan, tuple(rendered), out_dir, dict(sorted(written.items())))


def duplicate_names(builds: list[Build]) -> list[Problem]:
    """Specs of one build that would write the same outputs/<name>/ folder (they would overwrite each other)."""
    seen: dict[str, Build] = {}
    problems = []
    for b in builds:
        key = os.path.normcase(os.path.abspath(b.out_path))
        first = seen.setdefault(key, b)
        if first is not b:
            problems.append(
                Problem(
                    b.spec.file,
                    "name",
                    f"another spec in this build ({first.spec.file}) has the same name: both would write {b.out_dir}",
                    found=b.spec.name,
                    allowed="a name no other spec of the build uses",
                    line=b.spec.line_of("name"),
                )
            )
    return problems


def previous_files(out_dir: Path) -> set[str]:
    """The files the build already in out_dir wrote, from its plan.json (`files`; before that field existed: the
    configs of its frameworks); empty when there is none or it cannot be read."""
    from . import _io, frameworks

    try:
        text, _ = _io.read_text(Path(out_dir) / "plan.json", max_bytes=16 * 1024 * 1024)
        data = json.loads(text)
    except (FtgenError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    files = data.get("files")
    if isinstance(files, list):
        return {f for f in files if isinstance(f, str)}
    built = data.get("framework") if isinstance(data.get("framework"), list) else []
    old: set[str] = set()
    for name in built:
        if isinstance(name, str) and name in frameworks.names():
            fw = frameworks.get(name)
            old.update((fw.config_name, *fw.extra_files))
    return old


def stale_files(b: Build) -> list[str]:
    """Files a previous build of this spec wrote into out_dir that this build does not write (and that exist)."""
    return sorted(n for n in previous_files(b.out_path) - set(b.files) if (b.out_path / n).is_file())


def write_build(b: Build, executable: frozenset[str] | set[str] = frozenset()) -> tuple[list[Path], list[Path]]:
    """Write a build: the spec's lock first when it is new or changed (a hub model's facts, beside the spec), then
    its files atomically, then remove the ones a previous build of it wrote and this one does not (e.g.
    llamafactory.yaml after `--framework axolotl`); returns (written, removed), the lock among the written."""
    from .write import atomic_write, remove_files, write_all

    written: list[Path] = []
    lock = b.facts.lock
    if lock is not None and not lock.current():
        try:
            atomic_write(lock.path, lock.text)
        except OSError as exc:
            raise FtgenError(
                [
                    Problem(
                        str(lock.path),
                        "",
                        f"cannot write the lock: {exc.strerror or exc}",
                        allowed="a writable spec folder",
                    )
                ]
            ) from None
        written.append(Path(lock.path))
    stale = stale_files(b)
    written += write_all(b.out_path, b.files, executable=executable)
    if "tracking" in b.files.get("plan.json", ""):
        from .tracking import keep_gitignore

        keep_gitignore(b.out_path.parent)
    return written, remove_files(b.out_path, stale)


def _with_framework(spec: Spec, framework: str) -> Spec:
    from dataclasses import replace

    return replace(spec, framework=framework)


def build_file(
    path: Path | str,
    out_root: Path = Path("outputs"),
    framework: str | None = None,
    *,
    frozen: bool = False,
    refresh: bool = False,
    files: bool = True,
) -> Build:
    """Load and compile a spec file (files=False: no output files, see compile_spec)."""
    return compile_spec(spec_mod.load(path), out_root, framework, frozen=frozen, refresh=refresh, files=files)
