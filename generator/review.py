"""Review a pull request: for every spec and config changed between two git refs, what changed and is it valid."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from . import __version__
from ._templates import environment
from .errors import FtgenError, Problem
from .plan import Plan
from .render._yamlsafe import yaml_value

WORKTREE = "working tree"
_SPEC_KEYS = {"name", "base_model", "data"}


# ---------------------------------------------------------------------------------------------- git


def _git(repo: Path, *args: str, binary: bool = False) -> Any:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise FtgenError([Problem("git", "", "git is not installed", allowed="install git")]) from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FtgenError([Problem(str(repo), " ".join(args[:2]), f"git failed: {msg[-1] if msg else proc.returncode}")])
    return proc.stdout if binary else proc.stdout.decode("utf-8", "replace")


def repo_root(path: Path | str = ".") -> Path:
    return Path(_git(Path(path), "rev-parse", "--show-toplevel").strip())


def _verify_ref(repo: Path, ref: str) -> str:
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except FtgenError:
        raise FtgenError(
            [
                Problem(
                    str(repo),
                    "--base/--head",
                    "not a git commit, branch or tag",
                    ref,
                    "a ref such as origin/main, HEAD~1 or a commit id",
                )
            ]
        ) from None


def changed_files(repo: Path, base: str, head: str | None) -> list[str]:
    """Paths changed between base and head (head None: the working tree, untracked files included)."""
    if head is None:
        names = _git(repo, "diff", "--name-only", "--no-renames", base).splitlines()
        names += _git(repo, "ls-files", "--others", "--exclude-standard").splitlines()
    else:
        names = _git(repo, "diff", "--name-only", "--no-renames", base, head).splitlines()
    return sorted({n for n in names if n})


def show(repo: Path, ref: str | None, path: str) -> str | None:
    """A file's text at a ref (`git show REF:path`), or in the working tree; None where it does not exist."""
    if ref is None:
        p = repo / path
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None
    try:
        return _git(repo, "show", f"{ref}:{path}")
    except FtgenError:
        return None


def _tracked(repo: Path, ref: str | None) -> list[str]:
    if ref is None:
        names = (
            _git(repo, "ls-files").splitlines() + _git(repo, "ls-files", "--others", "--exclude-standard").splitlines()
        )
        return sorted({n for n in names if (repo / n).is_file()})
    return _git(repo, "ls-tree", "-r", "--name-only", ref).splitlines()


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    """contextlib.chdir for Python 3.10 too."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def checkout(repo: Path, ref: str | None) -> Iterator[Path]:
    """The tree at `ref` as a folder (the working tree itself for None; `git archive` into a temp dir else)."""
    if ref is None:
        yield repo
        return
    data = _git(repo, "archive", "--format=tar", ref, binary=True)
    with tempfile.TemporaryDirectory(prefix="ftgen-review-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            try:
                tar.extractall(tmp, filter="data")
            except TypeError:  # Python without extraction filters: git archive output is trusted
                tar.extractall(tmp)
        yield Path(tmp)


# ---------------------------------------------------------------------------------------------- records


@dataclass
class DecisionChange:
    key: str
    before: Any
    after: Any
    rule_before: str | None
    rule_after: str | None
    because_before: str | None
    because_after: str | None

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class ConfigState:
    """One framework config a spec compiles to, at head: schema-valid, committed copy current, lint."""

    framework: str
    file: str
    committed: str  # up to date | would regenerate | missing
    errors: int = 0
    warnings: int = 0
    findings: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class SpecReview:
    spec: str  # repo-relative path
    name: str
    status: str  # added | removed | changed | outputs changed | data changed
    base_ok: bool | None = None
    head_ok: bool | None = None
    method: tuple[str | None, str | None] = (None, None)
    frameworks: tuple[list, list] = ([], [])
    decisions: list[DecisionChange] = field(default_factory=list)
    memory_gb: tuple[float | None, float | None] = (None, None)
    hours: tuple[float | None, float | None] = (None, None)
    usd: tuple[float | None, float | None] = (None, None)
    new_warnings: list[dict] = field(default_factory=list)
    resolved_warnings: list[dict] = field(default_factory=list)
    head_problems: list[dict] = field(default_factory=list)
    base_problems: list[dict] = field(default_factory=list)
    configs: list[ConfigState] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.head_ok is not False and all(c.committed == "up to date" and not c.errors for c in self.configs)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("decisions", "configs")}
        d["decisions"] = [x.to_dict() for x in self.decisions]
        d["configs"] = [c.to_dict() for c in self.configs]
        d["ok"] = self.ok
        for k in ("method", "frameworks", "memory_gb", "hours", "usd"):
            d[k] = {"before": d[k][0], "after": d[k][1]}
        return d


@dataclass
class ConfigReview:
    """A hand-written framework config changed in the pull request, linted at head."""

    path: str
    framework: str | None
    status: str
    errors: int = 0
    warnings: int = 0
    findings: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def to_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


@dataclass
class Review:
    base: str
    head: str
    changed: list[str]
    specs: list[SpecReview] = field(default_factory=list)
    configs: list[ConfigReview] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.specs) and all(c.ok for c in self.configs)

    def to_dict(self) -> dict:
        return {
            "ftgen_version": __version__,
            "base": self.base,
            "head": self.head,
            "ok": self.ok,
            "changed": self.changed,
            "specs": [s.to_dict() for s in self.specs],
            "configs": [c.to_dict() for c in self.configs],
        }


# ---------------------------------------------------------------------------------------------- building


@dataclass
class _Side:
    ok: bool
    plan: Plan | None = None
    problems: list[Problem] = field(default_factory=list)
    build: Any = None


def _is_spec(data: Any) -> bool:
    return isinstance(data, dict) and _SPEC_KEYS <= set(data)


def _parse(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


def _build(tree: Path, spec_path: str, out_root: str) -> _Side:
    from .build import compile_spec
    from .spec import load

    with _chdir(tree):
        try:
            b = compile_spec(load(spec_path), Path(out_root))
        except FtgenError as exc:
            return _Side(False, problems=exc.problems)
        return _Side(True, b.plan, build=b)


def _problem_dict(p: Problem) -> dict:
    return {"severity": p.severity, "rule": p.rule, "key": p.key, "message": p.message}


def _diff_decisions(base: Plan, head: Plan) -> list[DecisionChange]:
    out = []
    b = {d.key: d for d in base.decisions}
    h = {d.key: d for d in head.decisions}
    for key in list(h) + [k for k in b if k not in h]:
        db, dh = b.get(key), h.get(key)
        if db and dh and db.value == dh.value and db.rule == dh.rule:
            continue
        out.append(
            DecisionChange(
                key,
                db.value if db else None,
                dh.value if dh else None,
                db.rule if db else None,
                dh.rule if dh else None,
                db.because if db else None,
                dh.because if dh else None,
            )
        )
    return out


def _warning_ids(plan: Plan | None) -> dict[tuple, dict]:
    if plan is None:
        return {}
    return {(f.rule, f.key, f.message): _problem_dict(f) for f in plan.findings}


def _config_states(tree: Path, side: _Side) -> list[ConfigState]:
    from . import frameworks
    from .check import compare
    from .lint import lint_config

    out = []
    with _chdir(tree):
        drift = compare(side.build)
    for r in side.build.rendered:
        name = frameworks.get(r.framework).config_name
        file = f"{side.build.out_dir.as_posix()}/{name}"
        missing = any(c == f"{name} (missing)" for c in drift.changed)
        state = "missing" if missing else "would regenerate" if name in drift.changed else "up to date"
        lint = lint_config(r.config, file, r.framework)
        findings = [f.to_dict() for f in lint.findings if f.severity in ("error", "warning")]
        out.append(ConfigState(r.framework, file, state, lint.count("error"), lint.count("warning"), findings))
    for c in drift.changed:
        if c.startswith(tuple(fw.config_name for fw in frameworks.all_frameworks())):
            continue
        name, missing = c.removesuffix(" (missing)"), c.endswith(" (missing)")
        out.append(
            ConfigState(
                "ftgen", f"{side.build.out_dir.as_posix()}/{name}", "missing" if missing else "would regenerate"
            )
        )
    return out


def _spec_paths(repo: Path, ref: str | None, paths: list[str]) -> dict[str, dict]:
    """{path: parsed spec} for the YAML files among `paths` that are specs at `ref`."""
    out = {}
    for p in paths:
        if p.endswith((".yaml", ".yml")):
            data = _parse(show(repo, ref, p))
            if _is_spec(data):
                out[p] = data
    return out


def review(repo: Path | str, base: str, head: str | None = None, out_root: str = "outputs") -> Review:
    """Compare specs and configs between `base` and `head` (None: the working tree); nothing is written."""
    repo = repo_root(repo)
    _verify_ref(repo, base)
    if head is not None:
        _verify_ref(repo, head)
    changed = changed_files(repo, base, head)
    result = Review(base, head or WORKTREE, changed)
    yaml_head = [p for p in _tracked(repo, head) if p.endswith((".yaml", ".yml"))]
    head_specs = _spec_paths(repo, head, yaml_head)
    base_specs = _spec_paths(repo, base, [p for p in changed if p.endswith((".yaml", ".yml"))])
    changed_set = set(changed)
    selected: dict[str, str] = {}
    for path in sorted(set(head_specs) | set(base_specs)):
        data = head_specs.get(path) or base_specs.get(path)
        name = str(data.get("name"))
        outputs = f"{out_root}/{name}/"
        data_paths = {
            str((Path(path).parent / t.get("path", "")).as_posix())
            for t in ((data.get("data") or {}).get("train") or [])
            if isinstance(t, dict)
        }
        if path in changed_set:
            in_base = _is_spec(_parse(show(repo, base, path)))
            selected[path] = "added" if not in_base else "removed" if path not in head_specs else "changed"
        elif any(c.startswith(outputs) for c in changed):
            selected[path] = "outputs changed"
        elif data_paths & {os.path.normpath(c) for c in changed}:
            selected[path] = "data changed"
    generated: set[str] = set()
    with checkout(repo, base) as base_tree, checkout(repo, head) as head_tree:
        for path, status in selected.items():
            data = head_specs.get(path) or base_specs.get(path)
            sr = SpecReview(path, str(data.get("name")), status)
            b = _build(base_tree, path, out_root) if status != "added" else None
            h = _build(head_tree, path, out_root) if status != "removed" else None
            sr.base_ok, sr.head_ok = (b.ok if b else None), (h.ok if h else None)
            bp, hp = (b.plan if b else None), (h.plan if h else None)
            sr.method = (bp.method if bp else None, hp.method if hp else None)
            sr.frameworks = (list(bp.frameworks) if bp else [], list(hp.frameworks) if hp else [])
            if bp and hp:
                sr.decisions = _diff_decisions(bp, hp)
            elif hp:
                sr.decisions = _diff_decisions(Plan(hp.name, hp.task, hp.method, (), ()), hp)
            sr.memory_gb = (
                bp.memory.total_gb if bp and bp.memory else None,
                hp.memory.total_gb if hp and hp.memory else None,
            )
            sr.hours = (
                bp.time_cost.hours if bp and bp.time_cost else None,
                hp.time_cost.hours if hp and hp.time_cost else None,
            )
            sr.usd = (
                bp.time_cost.usd if bp and bp.time_cost else None,
                hp.time_cost.usd if hp and hp.time_cost else None,
            )
            wb, wh = _warning_ids(bp), _warning_ids(hp)
            sr.new_warnings = [w for k, w in wh.items() if k not in wb]
            sr.resolved_warnings = [w for k, w in wb.items() if k not in wh]
            if h and not h.ok:
                sr.head_problems = [_problem_dict(p) | {"file": p.file, "line": p.line} for p in h.problems]
            if b and not b.ok:
                sr.base_problems = [_problem_dict(p) for p in b.problems]
            if h and h.ok:
                sr.configs = _config_states(head_tree, h)
                generated |= {f"{h.build.out_dir.as_posix()}/{n}" for n in h.build.files}
            result.specs.append(sr)
        result.configs = _hand_written(repo, head, head_tree, changed, generated | set(selected), out_root)
    return result


def _hand_written(
    repo: Path, head: str | None, tree: Path, changed: list[str], skip: set[str], out_root: str
) -> list[ConfigReview]:
    """Changed Axolotl / LLaMA-Factory configs that no reviewed spec generates: lint them at head."""
    from .lint import lint_file
    from .lint._detect import detect

    out = []
    for path in changed:
        if path in skip or not path.endswith((".yaml", ".yml")):
            continue
        text = show(repo, head, path)
        if text is None:
            continue
        data = _parse(text)
        if _is_spec(data) or not isinstance(data, dict):
            continue
        framework, _ = detect(data)
        if framework is None:
            continue
        result = lint_file(tree / path, framework, display=path)
        out.append(
            ConfigReview(
                path,
                framework,
                "changed",
                result.count("error"),
                result.count("warning"),
                [f.to_dict() for f in result.findings],
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- output


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _val(value: Any) -> str:
    if value is None:
        return "—"
    try:
        return yaml_value(value)
    except Exception:
        return repr(value)


def _delta(pair: tuple, unit: str = "", fmt: str = "{:.2f}") -> str:
    before, after = pair
    if before is None and after is None:
        return "—"
    if before is None:
        return f"{fmt.format(after)}{unit} (new)"
    if after is None:
        return f"{fmt.format(before)}{unit} (removed)"
    d = after - before
    sign = "+" if d > 0 else "−" if d < 0 else "±"
    return f"{fmt.format(before)}{unit} → {fmt.format(after)}{unit} ({sign}{fmt.format(abs(d))}{unit})"


@cache
def _template() -> jinja2.Template:
    return environment({"md": _md, "val": _val}, {"delta": _delta}).get_template("review/review.md.j2")


def markdown(r: Review) -> str:
    """The review as a markdown PR comment."""
    return _template().render(r=r, version=__version__)


def as_json(r: Review) -> str:
    return json.dumps(r.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
