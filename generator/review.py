"""Review a pull request: for every spec and config changed between two git refs, what changed and is it valid.

The repository under review is untrusted input: refs reach git only as resolved commit ids after
--end-of-options, file names come NUL-separated, YAML is parsed by generator._yaml (size and alias limits),
nothing outside the repository is read (a symlink or an absolute path that leads out of it is reported, not
followed, in the working tree as in a commit), and every value is escaped in the markdown.
"""

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

from . import __version__, _io, _yaml
from ._markdown import md_code, md_text
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


def _names(out: str) -> list[str]:
    """Paths from git's -z output (NUL-separated: any byte in a name survives, nothing is quoted)."""
    return [n for n in out.split("\0") if n]


def repo_root(path: Path | str = ".") -> Path:
    return Path(_git(Path(path), "rev-parse", "--show-toplevel").strip())


def _verify_ref(repo: Path, ref: str) -> str:
    """The commit id `ref` names; the ref itself never reaches git as an option (--end-of-options)."""
    try:
        sha = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").strip()
    except FtgenError:
        sha = ""
    if not sha or any(c not in "0123456789abcdef" for c in sha):
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
        )
    return sha


def changed_files(repo: Path, base: str, head: str | None) -> list[str]:
    """Paths changed between commit base and commit head (head None: the working tree, untracked files included)."""
    if head is None:
        names = _names(_git(repo, "diff", "--name-only", "-z", "--no-renames", "--end-of-options", base))
        names += _names(_git(repo, "ls-files", "-z", "--others", "--exclude-standard"))
    else:
        names = _names(_git(repo, "diff", "--name-only", "-z", "--no-renames", "--end-of-options", base, head))
    return sorted(set(names))


def _inside(root: Path, path: Path | str) -> bool:
    """Whether `path`, symlinks resolved, stays inside `root`."""
    try:
        real = os.path.realpath(path)
        top = os.path.realpath(root)
    except (OSError, ValueError):
        return False
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def show(repo: Path, ref: str | None, path: str, max_bytes: int = _yaml.MAX_BYTES) -> str | None:
    """A file's text at commit `ref` (`git show`), or in the working tree; None where it does not exist, is not a
    regular file inside the repository (a symlink out of it is not followed), is larger than max_bytes or not text."""
    if ref is None:
        p = repo / path
        if not _inside(repo, p):
            return None
        try:
            return _io.read_text(p, path, max_bytes)[0]
        except FtgenError:
            return None
    try:
        entry = _tree(repo, ref).get(path)
        if entry is None or entry[0] not in _REGULAR or entry[1] > max_bytes:
            return None
        return _git(repo, "show", "--end-of-options", f"{ref}:{path}")
    except FtgenError:
        return None


_REGULAR = ("100644", "100755")


@cache
def _tree_cached(repo: str, ref: str) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for line in _names(_git(Path(repo), "ls-tree", "-r", "-l", "-z", "--end-of-options", ref)):
        meta, _, name = line.partition("\t")
        parts = meta.split()
        if len(parts) == 4:
            size = int(parts[3]) if parts[3].isdigit() else 0
            out[name] = (parts[0], size)
    return out


def _tree(repo: Path, ref: str) -> dict[str, tuple[str, int]]:
    """{path: (mode, size)} of every file at commit `ref` (ref is a resolved commit id, so caching is safe)."""
    return _tree_cached(str(repo), ref)


def _tracked(repo: Path, ref: str | None) -> list[str]:
    """Regular files at commit `ref`, or in the working tree (tracked and untracked, inside the repository)."""
    if ref is None:
        names = _names(_git(repo, "ls-files", "-z")) + _names(
            _git(repo, "ls-files", "-z", "--others", "--exclude-standard")
        )
        return sorted({n for n in names if (repo / n).is_file() and _inside(repo, repo / n)})
    return sorted(n for n, (mode, _) in _tree(repo, ref).items() if mode in _REGULAR)


def _safe_members(tar: tarfile.TarFile, dest: str, skipped: list[str]) -> Iterator[tarfile.TarInfo]:
    """The members of a `git archive` that stay inside dest: regular files, folders, and symlinks whose target
    resolves inside; a symlink (or anything) leading out of the repository is skipped and named in `skipped`."""
    data_filter = getattr(tarfile, "data_filter", None)
    for member in tar.getmembers():
        if data_filter is not None:
            try:
                member = data_filter(member, dest)
            except tarfile.FilterError:
                skipped.append(member.name)
                continue
            if member is None:
                continue
        else:  # Python without extraction filters: the same checks by hand
            name = os.path.normpath(member.name)
            if os.path.isabs(name) or name.startswith(".."):
                skipped.append(member.name)
                continue
            if member.issym() or member.islnk():
                base = os.path.dirname(name) if member.issym() else ""
                target = os.path.normpath(os.path.join(base, member.linkname))
                if os.path.isabs(member.linkname) or target.startswith(".."):
                    skipped.append(member.name)
                    continue
            elif not (member.isfile() or member.isdir()):
                skipped.append(member.name)
                continue
        yield member


@contextlib.contextmanager
def checkout(repo: Path, ref: str | None, skipped: list[str] | None = None) -> Iterator[Path]:
    """The tree at commit `ref` as a folder (the working tree itself for None; `git archive` into a temp dir else).

    Symlinks that lead outside the tree are not extracted; their names go to `skipped`.
    """
    skipped = [] if skipped is None else skipped
    if ref is None:
        yield repo
        return
    data = _git(repo, "archive", "--format=tar", "--end-of-options", ref, binary=True)
    with tempfile.TemporaryDirectory(prefix="ftgen-review-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = list(_safe_members(tar, tmp, skipped))
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, members=members, filter="fully_trusted")  # members already filtered
            else:
                tar.extractall(tmp, members=members)
        yield Path(tmp)


# ---------------------------------------------------------------------------------------------- records


@dataclass
class Change:
    """One spec value that changed: its key path, before and after (None: absent)."""

    key: str
    before: Any
    after: Any

    def to_dict(self) -> dict:
        return {"key": self.key, "before": self.before, "after": self.after}


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
    committed: str  # up to date | would regenerate | missing | would be removed | not followed
    errors: int = 0
    warnings: int = 0
    findings: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class SpecReview:
    spec: str  # repo-relative path
    name: str
    status: str  # added | removed | changed | outputs changed | data changed | lock changed
    base_ok: bool | None = None
    head_ok: bool | None = None
    method: tuple[str | None, str | None] = (None, None)
    frameworks: tuple[list, list] = ([], [])
    headline: list[Change] = field(default_factory=list)  # base model, GPU, data: shown first
    data_files: list[str] = field(default_factory=list)  # changed data files the spec reads
    imports: list[Change] = field(default_factory=list)  # allow_imports, framework_overrides, trust_remote_code
    decisions: list[DecisionChange] = field(default_factory=list)
    memory_gb: tuple[float | None, float | None] = (None, None)
    hours: tuple[float | None, float | None] = (None, None)
    usd: tuple[float | None, float | None] = (None, None)
    new_warnings: list[dict] = field(default_factory=list)
    resolved_warnings: list[dict] = field(default_factory=list)
    head_problems: list[dict] = field(default_factory=list)
    base_problems: list[dict] = field(default_factory=list)
    configs: list[ConfigState] = field(default_factory=list)
    # a sweep (sweep.json's trial count, total hours and USD) at base and head; None where the spec has none
    sweep_trials: tuple[float | None, float | None] = (None, None)
    sweep_hours: tuple[float | None, float | None] = (None, None)
    sweep_usd: tuple[float | None, float | None] = (None, None)

    @property
    def ok(self) -> bool:
        return self.head_ok is not False and all(c.committed == "up to date" and not c.errors for c in self.configs)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("decisions", "configs", "headline", "imports")}
        d["headline"] = [x.to_dict() for x in self.headline]
        d["imports"] = [x.to_dict() for x in self.imports]
        d["decisions"] = [x.to_dict() for x in self.decisions]
        d["configs"] = [c.to_dict() for c in self.configs]
        d["ok"] = self.ok
        for k in ("method", "frameworks", "memory_gb", "hours", "usd", "sweep_trials", "sweep_hours", "sweep_usd"):
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
    not_followed: list[str] = field(default_factory=list)  # symlinks out of the repository, not read

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
            "not_followed": self.not_followed,
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


def _parse(text: str | None, file: str = "<review>") -> Any:
    """A pull request's YAML through the one safe loader (limits on size, depth, aliases); None if it is not YAML."""
    if text is None:
        return None
    try:
        return _yaml.load_text(text, file).data
    except FtgenError:
        return None


def _outside_problems(tree: Path, spec, not_followed: frozenset[str] = frozenset()) -> list[Problem]:
    """Files the spec would make ftgen read that lie outside the repository under review (an absolute path, or a
    symlink leading out): refused, so a pull request cannot make the review read (and quote) the runner's files."""
    candidates: list[tuple[str, str]] = [(f"data.train[{i}].path", t.path) for i, t in enumerate(spec.data.train)]
    if spec.eval is not None:
        candidates.append(("eval.path", spec.eval.path))
    candidates.append(("base_model", spec.base_model))
    out = []
    for key, value in candidates:
        path = Path(value)
        path = path if path.is_absolute() else spec.base_dir / path
        skipped = os.path.normpath(os.path.relpath(os.path.abspath(path), os.path.realpath(tree))) in not_followed
        if not skipped and not (path.exists() or path.is_symlink()) and not Path(value).is_absolute():
            continue  # a hub id, not a local file
        if skipped or not _inside(tree, path):
            out.append(
                Problem(
                    spec.file,
                    key,
                    "refusing to read outside the repository under review (an absolute path or a symlink out of it)",
                    found=value,
                    allowed="a path inside the repository",
                    line=spec.line_of(key),
                )
            )
    return out


def _build(tree: Path, spec_path: str, out_root: str, not_followed: frozenset[str] = frozenset()) -> _Side:
    from .build import compile_spec
    from .spec import load

    try:
        if not _inside(tree, tree / spec_path):
            raise FtgenError([Problem(spec_path, "", "a symlink out of the repository: not followed")])
        # paths as the tree names them (spec.file, the lock, out_dir), read under the tree: no chdir
        spec = load(spec_path, root=tree)
        outside = _outside_problems(tree, spec, not_followed)
        if outside:
            raise FtgenError(outside)
        b = compile_spec(spec, Path(out_root), frozen=True)  # hub models from the committed lock only
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


def _flatten(value: Any, key: str, out: dict[str, Any], lists_whole: bool = True) -> None:
    """Leaf key paths of a mapping (lists kept whole: one line per list)."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, _yaml.join_key(key, str(k)), out, lists_whole)
    else:
        out[key] = value


def _changes(before: dict | None, after: dict | None, keys: tuple[str, ...]) -> list[Change]:
    """Every leaf under `keys` whose value differs between two parsed specs, in a stable order."""
    flat_b: dict[str, Any] = {}
    flat_a: dict[str, Any] = {}
    for k in keys:
        if isinstance(before, dict) and k in before:
            _flatten(before[k], k, flat_b)
        if isinstance(after, dict) and k in after:
            _flatten(after[k], k, flat_a)
    out = []
    for key in sorted(set(flat_b) | set(flat_a), key=lambda k: (keys.index(k.split(".")[0].split("[")[0]), k)):
        if flat_b.get(key, _ABSENT) != flat_a.get(key, _ABSENT):
            out.append(Change(key, flat_b.get(key), flat_a.get(key)))
    return out


_ABSENT = object()
_HEADLINE_KEYS = ("base_model", "hardware", "data", "eval")
_IMPORT_KEYS = ("allow_imports", "trust_remote_code", "framework_overrides")


def _import_changes(before: dict | None, after: dict | None) -> list[Change]:
    """allow_imports entry by entry (each prefix added or removed is a line), then every override leaf."""
    out = []
    b = (before or {}).get("allow_imports") if isinstance(before, dict) else None
    a = (after or {}).get("allow_imports") if isinstance(after, dict) else None
    b_list = [str(x) for x in b] if isinstance(b, list) else ([] if b is None else [str(b)])
    a_list = [str(x) for x in a] if isinstance(a, list) else ([] if a is None else [str(a)])
    for prefix in a_list:
        if prefix not in b_list:
            out.append(Change("allow_imports", None, prefix))
    for prefix in b_list:
        if prefix not in a_list:
            out.append(Change("allow_imports", prefix, None))
    return out + _changes(before, after, _IMPORT_KEYS[1:])


_DRIFT_STATES = ((" (missing)", "missing"), (" (would be removed)", "would be removed"))


def _sweep_total(side: _Side | None) -> dict:
    """sweep.json's `total` (trials, hours, usd) of a side's build; {} when it has no sweep or did not compile."""
    files = side.build.files if side is not None and side.ok and side.build is not None else {}
    try:
        return dict(json.loads(files["sweep.json"])["total"]) if "sweep.json" in files else {}
    except (ValueError, KeyError, TypeError):
        return {}


def _config_states(tree: Path, side: _Side) -> list[ConfigState]:
    from . import frameworks
    from .check import compare
    from .lint import lint_config

    out_dir = side.build.out_dir.as_posix()
    if not _inside(tree, tree / side.build.out_dir):
        return [ConfigState("ftgen", f"{out_dir}/", "not followed")]
    drift = compare(side.build)  # reads build.out_path (under the tree); names out_dir as the tree does
    states: dict[str, str] = {}
    for c in drift.changed:
        name, state = c, "would regenerate"
        for suffix, word in _DRIFT_STATES:
            if c.endswith(suffix):
                name, state = c.removesuffix(suffix), word
        states[name] = state
    out = []
    for r in side.build.rendered:
        name = frameworks.get(r.framework).config_name
        file = f"{out_dir}/{name}"
        lint = lint_config(r.config, file, r.framework)
        findings = [f.to_dict() for f in lint.findings if f.severity in ("error", "warning")]
        state = states.pop(name, "up to date")
        out.append(ConfigState(r.framework, file, state, lint.count("error"), lint.count("warning"), findings))
    out += [ConfigState("ftgen", f"{out_dir}/{name}", state) for name, state in states.items()]
    return out


def _spec_paths(repo: Path, ref: str | None, paths: list[str]) -> dict[str, dict]:
    """{path: parsed spec} for the YAML files among `paths` that are specs at `ref`."""
    out = {}
    for p in paths:
        if p.endswith((".yaml", ".yml")):
            data = _parse(show(repo, ref, p), p)
            if _is_spec(data):
                out[p] = data
    return out


def _lock_of(spec_path: str) -> str:
    """The repo-relative path of a spec's lock file (facts.lock: a hub model's commit and config facts)."""
    from .facts.lock import lock_path

    return lock_path(spec_path).as_posix()


def _data_paths(spec_path: str, data: dict) -> set[str]:
    train = (data.get("data") or {}).get("train") if isinstance(data.get("data"), dict) else None
    paths = {t.get("path") for t in (train or []) if isinstance(t, dict) and isinstance(t.get("path"), str)}
    ev = data.get("eval")
    if isinstance(ev, dict) and isinstance(ev.get("path"), str):
        paths.add(ev["path"])
    return {os.path.normpath((Path(spec_path).parent / p).as_posix()) for p in paths}


def review(repo: Path | str, base: str, head: str | None = None, out_root: str = "outputs") -> Review:
    """Compare specs and configs between `base` and `head` (None: the working tree); nothing is written."""
    repo = repo_root(repo)
    base_id = _verify_ref(repo, base)
    head_id = _verify_ref(repo, head) if head is not None else None
    changed = changed_files(repo, base_id, head_id)
    result = Review(base, head or WORKTREE, changed)
    yaml_head = [p for p in _tracked(repo, head_id) if p.endswith((".yaml", ".yml"))]
    head_specs = _spec_paths(repo, head_id, yaml_head)
    base_specs = _spec_paths(repo, base_id, [p for p in changed if p.endswith((".yaml", ".yml"))])
    changed_set = set(changed)
    changed_norm = {os.path.normpath(c) for c in changed}
    selected: dict[str, str] = {}
    for path in sorted(set(head_specs) | set(base_specs)):
        data = head_specs.get(path) or base_specs.get(path)
        name = str(data.get("name"))
        outputs = f"{out_root}/{name}/"
        if path in changed_set:
            in_base = _is_spec(_parse(show(repo, base_id, path), path))
            selected[path] = "added" if not in_base else "removed" if path not in head_specs else "changed"
        elif any(c.startswith(outputs) for c in changed):
            selected[path] = "outputs changed"
        elif _data_paths(path, data) & changed_norm:
            selected[path] = "data changed"
        elif _lock_of(path) in changed_set:
            selected[path] = "lock changed"
    generated: set[str] = set()
    with (
        checkout(repo, base_id, []) as base_tree,
        checkout(repo, head_id, result.not_followed) as head_tree,
    ):
        for path, status in selected.items():
            data_h, data_b = head_specs.get(path), base_specs.get(path)
            if data_b is None and status != "added":
                data_b = _parse(show(repo, base_id, path), path)
            data = data_h or data_b
            sr = SpecReview(path, str(data.get("name")), status)
            sr.headline = _changes(data_b if status != "added" else None, data_h, _HEADLINE_KEYS)
            sr.imports = _import_changes(data_b if status != "added" else None, data_h)
            sr.data_files = sorted(_data_paths(path, data) & changed_norm)
            b = _build(base_tree, path, out_root) if status != "added" else None
            h = _build(head_tree, path, out_root, frozenset(result.not_followed)) if status != "removed" else None
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
            sb, sh = _sweep_total(b), _sweep_total(h)
            sr.sweep_trials = (sb.get("trials"), sh.get("trials"))
            sr.sweep_hours = (sb.get("hours"), sh.get("hours"))
            sr.sweep_usd = (sb.get("usd"), sh.get("usd"))
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
        result.configs = _hand_written(repo, head_id, head_tree, changed, generated | set(selected), out_root)
    if head_id is None:
        result.not_followed = sorted(c for c in changed if (repo / c).is_symlink() and not _inside(repo, repo / c))
    return result


def _hand_written(
    repo: Path, head: str | None, tree: Path, changed: list[str], skip: set[str], out_root: str
) -> list[ConfigReview]:
    """Changed Axolotl / LLaMA-Factory configs that no reviewed spec generates: lint them at head."""
    from .lint import lint_config
    from .lint._detect import detect

    out = []
    for path in changed:
        if path in skip or not path.endswith((".yaml", ".yml")):
            continue
        text = show(repo, head, path)
        if text is None:
            continue
        try:
            loaded = _yaml.load_text(text, path)
        except FtgenError:
            continue
        data = loaded.data
        if _is_spec(data) or not isinstance(data, dict):
            continue
        framework, _ = detect(data)
        if framework is None:
            continue
        result = lint_config(data, path, framework, loaded.line_of)
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


def _val(value: Any) -> str:
    """A value as YAML on one line (as it would appear in a config)."""
    if value is None:
        return "—"
    try:
        return yaml_value(value)
    except Exception:
        return repr(value)


def _code(value: Any) -> str:
    """A value as a code span no backtick can break out of (— for none)."""
    return "—" if value is None else md_code(_val(value) if not isinstance(value, str) else value)


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


_HEADLINE_NAMES = {"base_model": "Base model", "hardware": "GPU", "data": "Data", "eval": "Eval set"}


def _headline_label(key: str) -> str:
    return _HEADLINE_NAMES.get(key.split(".")[0].split("[")[0], key)


@cache
def _template() -> jinja2.Template:
    filters = {"md": md_text, "code": md_code, "val": lambda v: md_code(_val(v)), "label": _headline_label}
    return environment(filters, {"delta": _delta, "vcode": _code}).get_template("review/review.md.j2")


def markdown(r: Review) -> str:
    """The review as a markdown PR comment; every value from the repository is escaped (code spans that no
    backtick closes, text with links, @mentions, #references and HTML defused)."""
    return _template().render(r=r, version=__version__)


def as_json(r: Review) -> str:
    return json.dumps(r.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
