"""`ftgen run`: validate, launch the framework in its env, record checkpoints and metrics in runs/<run-id>/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import _io, envs, frameworks
from .._secrets import mask_argv
from ..errors import Exit, FtgenError, Problem
from ..render._yamlsafe import yaml_document
from ..tracking import Tracking
from ..validate import validate_config
from ..write import atomic_write
from . import _procs, metrics
from .record import RunRecord, derive_status, find_runs, new_run_dir, now, refresh
from .runner import console_printer, sha256_file, stream

__all__ = ["start", "resume", "RunRecord", "find_runs", "derive_status", "refresh", "load_run", "Prepared"]

MODEL_DIR = "model"  # output_dir inside the run folder


@dataclass(frozen=True)
class Prepared:
    """A build folder ready to run: which framework, its config, the plan."""

    out_dir: Path
    framework: str
    config_path: Path
    config: dict
    plan: dict


def _problem(out_dir: Path, key: str, message: str, found=None, allowed=None) -> FtgenError:
    return FtgenError([Problem(str(out_dir), key, message, found, allowed)])


def read_json(path: Path, what: str, max_bytes: int = 16 * 1024 * 1024):
    """A JSON file of a build or run folder, through the one safe reader; FtgenError (exit 2) when it is not."""
    return _io.read_json(path, str(path), max_bytes)


def _not_a_build(path: Path) -> tuple[str, None, str]:
    """What the path is instead of a build folder, and what to run: a spec names its build, a framework config
    its folder."""
    usage = "a folder written by `ftgen build`, e.g. outputs/<name>"
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        if (path.parent / "plan.json").is_file():
            return "a config inside a build folder", None, f"the folder: ftgen run {path.parent}"
        from .. import _yaml

        try:
            data = _yaml.load_text(_yaml.read_text(path, str(path))[0], str(path)).data
        except Exception:  # whatever it is, it is not a build folder: the plain answer below
            data = None
        if isinstance(data, dict) and "base_model" in data and "data" in data:
            name = data.get("name") if isinstance(data.get("name"), str) else "<name>"
            return "a spec, not a build folder", None, f"`ftgen build {path}` first, then `ftgen run outputs/{name}`"
    return "not an ftgen build folder (no plan.json)", None, usage


def prepare(out_dir: Path, framework: str | None = None) -> Prepared:
    """Read outputs/<name>/: plan.json and the chosen framework's config; schema-validate it."""
    out_dir = Path(out_dir)
    plan_path = out_dir / "plan.json"
    if not plan_path.is_file():
        raise _problem(out_dir, "", *_not_a_build(out_dir))
    plan = read_json(plan_path, "plan.json")
    if not isinstance(plan, dict):
        raise _problem(plan_path, "", "plan.json is not a JSON object", found=type(plan).__name__)
    built = plan.get("framework") or []
    if framework is None:
        if len(built) != 1:
            raise _problem(
                out_dir,
                "--framework",
                "this build has configs for several frameworks; choose one",
                found=None,
                allowed=", ".join(built),
            )
        framework = built[0]
    if framework not in built:
        raise _problem(
            out_dir,
            "--framework",
            "no config for this framework in the build",
            found=framework,
            allowed=", ".join(built),
        )
    config_path = out_dir / frameworks.get(framework).config_name
    from .._yaml import load_file

    config = load_file(config_path).data
    problems = validate_config(framework, config, str(config_path))
    if isinstance(config, dict):  # the model the framework will download or load: never an alias
        from ..facts.models import config_model_problems

        key = frameworks.get(framework).key_of("base_model")
        planned = (plan.get("facts") or {}).get("model") if isinstance(plan, dict) else None
        problems += config_model_problems(config.get(key), config_path, key, planned)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise FtgenError(errors)
    return Prepared(out_dir, framework, config_path, config, plan)


def run_config(prep: Prepared, run_dir: Path, resume_from: str | None = None) -> dict:
    """The config the run really uses: output_dir inside the run (runs/<id>/model), local paths made absolute."""
    return frameworks.get(prep.framework).run_config(prep.config, prep.out_dir, run_dir, resume_from)


def _dataset_hashes(prep: Prepared, cfg: dict) -> dict[str, str]:
    files = frameworks.get(prep.framework).dataset_files(cfg)
    return {str(f.resolve()): sha256_file(f) for f in files if f.is_file()}


def _git(out_dir: Path) -> tuple[str | None, bool | None]:
    try:
        head = subprocess.run(
            ["git", "-C", str(out_dir), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "-C", str(out_dir), "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
        )
        return head.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _get_env(framework: str, env_root: Path | None) -> envs.Env:
    env = envs.get_env(framework, env_root)
    if env is None:
        raise FtgenError(
            [
                Problem(
                    "<environment>",
                    framework,
                    "no managed environment for this framework",
                    allowed=f"create it with `ftgen env install {framework}` "
                    f"(or point at an existing one with `ftgen env use {framework} PYTHON`)",
                )
            ],
            exit_code=Exit.INVALID,
        )
    return env


def _validated_natively(prep: Prepared, env: envs.Env, config_text: str, resolved: Path) -> dict:
    """Run the framework's own validator once per (config, env); the verdict is cached beside the runs."""
    import hashlib

    from ..validate import classify, native_validate

    key = hashlib.sha256(f"{prep.framework}|{env.version}|{env.python}|{config_text}".encode()).hexdigest()
    cache = prep.out_dir / "runs" / ".native-validation.json"
    try:
        known = read_json(cache, "native validation cache")
    except FtgenError:
        known = {}
    if not isinstance(known, dict):
        known = {}
    if known.get(key) == "ok":
        return {"schema": True, "native": True, "cached": True}
    problems = native_validate(prep.framework, resolved, env)
    errors, machine = classify(prep.framework, [p for p in problems if p.severity == "error"])
    if errors or machine:
        # a run happens here: what the validator refuses for a reason of this machine stops it too, said as such
        raise FtgenError(
            errors
            + [
                Problem(p.file, p.key, f"cannot run on this machine ({why}): {p.message}", p.found, p.allowed)
                for why, p in machine
            ]
        )
    known[key] = "ok"
    atomic_write(cache, json.dumps(known, indent=1) + "\n")
    return {"schema": True, "native": True, "cached": False}


def require_eval_set(build_dir: Path) -> None:
    """Refuse to train a build whose spec has no eval set (`ftgen run --without-eval-set` skips this): the run
    could not be judged. A folder without plan.json is left to `start`, which says what is missing."""
    plan_path = Path(build_dir) / "plan.json"
    if not plan_path.is_file():
        return
    plan = read_json(plan_path, "plan.json")
    if not isinstance(plan, dict) or not (plan.get("facts") or {}).get("eval"):
        raise FtgenError(
            [
                Problem(
                    str(plan_path),
                    "eval",
                    "the spec has no eval set: build an eval set first "
                    "(200-500 prompts with ground-truth answers), or pass --without-eval-set",
                )
            ]
        )


def start(
    out_dir: Path,
    framework: str | None = None,
    *,
    env_root: Path | None = None,
    on_line: Callable[[str, bool], None] | None = None,
    native: bool = True,
    launcher: str = "local",
    nproc: int = 1,
    resume_run: Path | None = None,
    evaluate: bool = True,
) -> RunRecord:
    """Run the build in out_dir (or continue `resume_run`); returns the finished record."""
    prep = prepare(out_dir, framework)
    env = _get_env(prep.framework, env_root)
    if resume_run is None:
        run_id, run_dir = new_run_dir(prep.out_dir.resolve() / "runs", prep.framework)
        record = RunRecord(
            run_id=run_id,
            name=str(prep.plan.get("name", prep.out_dir.name)),
            framework=prep.framework,
            path=str(run_dir.resolve()),
        )
        resume_from = None
    else:
        record = RunRecord.load(resume_run)
        run_dir = Path(record.path)
        cps = metrics.checkpoints(run_dir / MODEL_DIR)
        if not cps:
            raise _problem(
                run_dir,
                "--resume",
                "the run has no checkpoint to resume from",
                found=record.run_id,
                allowed="a run with runs/<id>/model/checkpoint-N",
            )
        resume_from = cps[-1]["path"]
        record.attempts.append(
            {
                k: getattr(record, k)
                for k in ("status", "started_at", "finished_at", "exit_code", "signal", "last_checkpoint")
            }
        )
        record.status, record.started_at, record.finished_at = "running", now(), None
        record.exit_code = record.signal = record.note = None
    tracked = Tracking.from_dict(prep.plan.get("tracking"))
    cfg = run_config(prep, run_dir, resume_from)
    if tracked is not None:
        cfg = _tracked_config(prep, cfg, tracked, record.run_id)
    config_path = run_dir / "config.yaml"
    header = (
        f"# {prep.framework} config for run {record.run_id}: {prep.config_path.name} with output_dir and "
        "local paths resolved by `ftgen run`\n"
    )
    atomic_write(config_path, header + yaml_document(cfg))
    shutil.copyfile(prep.config_path, run_dir / f"source-{prep.config_path.name}")
    try:
        from ..envs._needs import problems as missing_modules

        lacking = missing_modules(prep.framework, cfg, env, str(prep.config_path))
        if tracked is not None:  # ftgen's own side: wandb is an optional extra of ftgen
            from .tracker import missing as tracker_missing

            lacking += tracker_missing(tracked, str(prep.out_dir / "plan.json"))
        if lacking:  # stop before training: the framework would fail minutes in, at import or model load
            raise FtgenError(lacking)
        validated = (
            _validated_natively(prep, env, _io.read_text(prep.config_path)[0], config_path)
            if native
            else {"schema": True, "native": False, "cached": False}
        )
    except FtgenError:
        if resume_run is None:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing ran: leave no empty run behind
        raise
    manifest = envs.read_manifest(env.root) or {}
    from ..launch.run import launch_command

    # config.yaml relative to the run folder (the working directory): LLaMA-Factory re-splits its arguments
    argv, extra_env = launch_command(prep.framework, Path("config.yaml"), env, launcher=launcher, nproc=nproc)
    if tracked is not None:
        extra_env = {**tracked.env(prep.out_dir.resolve(), run_name=record.run_id), **extra_env}
    shipped = [f for f in prep.plan.get("files") or [] if isinstance(f, str) and f.endswith(".py")]
    if shipped:  # reward functions and data transforms the build ships beside the config (FT193, FT194)
        extra_env = {**extra_env, "PYTHONPATH": str(Path(prep.out_dir).resolve())}
    _identify(record)
    record.command = mask_argv([str(a) for a in argv])
    record.launcher = launcher if nproc == 1 else f"{launcher} x{nproc}"
    record.versions = dict(manifest.get("versions") or {}, **{prep.framework: env.version})
    record.env_python = str(env.python)
    record.config_sha256 = sha256_file(prep.config_path)
    record.spec_sha256 = prep.plan.get("spec_sha256", "")
    record.datasets = _dataset_hashes(prep, cfg)
    record.git_commit, record.git_dirty = _git(prep.out_dir)
    record.metrics = {"validated": validated}
    if tracked is not None and resume_run is None:
        extra_env = {**extra_env, **_open_tracker(tracked, record, prep, run_dir)}
    elif tracked is not None:  # --resume: the same tracker run again
        extra_env = {**extra_env, **_tracker_env(record)}
    record.save()

    import threading

    # matplotlib's import (for loss.png) takes ~0.5 s: do it while the framework starts up, not after it ends
    threading.Thread(target=metrics.preload_plotting, daemon=True).start()

    def spawned(child_pid: int) -> None:
        # its process group, and who it is (start time, command line), so `ftgen stop --orphans` can prove it
        record.child_pid = child_pid
        child = _procs.info(child_pid)
        record.child_start_ticks = child.start_ticks if child else None
        record.child_cmdline = mask_argv(list(child.cmdline)) if child else None
        record.save()

    from . import peak_memory

    hook = peak_memory.hook_env(run_dir)
    # both on the trainer's path: the build folder's shipped modules (FT193-FT195) and the memory hook
    paths = [p for p in (extra_env.get("PYTHONPATH"), hook.pop("PYTHONPATH", None)) if p]
    trainer_env = {**extra_env, **hook, **({"PYTHONPATH": os.pathsep.join(paths)} if paths else {})}
    outcome = stream(
        record.command,
        cwd=run_dir,
        env=env.subprocess_env(trainer_env, trackers=tracked.backends if tracked else ()),
        log_path=run_dir / "train.log",
        on_line=on_line or console_printer(),
        on_spawn=spawned,
    )
    record.exit_code = outcome.exit_code
    record.signal = outcome.signal
    record.wall_seconds = round(outcome.seconds, 2)
    record.finished_at = now()
    try:
        record.memory = peak_memory.measured(run_dir, prep.plan, outcome.max_rss_bytes)
    except Exception as exc:  # a figure that cannot be read must not lose the run's status
        record.memory = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    if outcome.signal:
        record.status = "interrupted"
    else:
        record.status = "succeeded" if outcome.exit_code == 0 else "failed"
    try:
        collect(record, validated)
    except Exception as exc:  # a broken output folder must not lose the run's status
        record.note = f"collecting metrics failed: {type(exc).__name__}: {exc}"
    finally:
        record.save()
    if evaluate:  # eval set scores for base and fine-tuned; a failure is recorded in record.eval["error"]
        from ..evaluate import after_run

        after_run(record, prep.plan, env_root=env_root, on_line=on_line)
    if record.tracker:
        _close_tracker(record)
    return record


def _open_tracker(tracked: Tracking, record: RunRecord, prep: Prepared, run_dir: Path) -> dict[str, str]:
    """Create the run's tracker run before training; a tracker that cannot be reached stops the run here."""
    from .tracker import open_run

    try:
        return open_run(tracked, record, prep.plan, prep.out_dir.resolve())
    except Exception as exc:  # ImportError, an unreachable server, a locked store: nothing has run yet
        shutil.rmtree(run_dir, ignore_errors=True)
        raise FtgenError(
            [
                Problem(
                    str(prep.out_dir / "plan.json"),
                    "tracking",
                    f"cannot open the tracker run: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}",
                    found=", ".join(tracked.backends),
                    allowed="a reachable tracking store (check tracking.uri and the MLFLOW_* / WANDB_* variables), "
                    "or remove the spec's tracking block",
                )
            ],
            exit_code=Exit.RUN_FAILED,
        ) from None


def _tracker_env(record: RunRecord) -> dict[str, str]:
    """The variables that send a resumed run's trainer back into the tracker run(s) its first attempt opened."""
    link = record.tracker if isinstance(record.tracker, dict) else {}
    out: dict[str, str] = {}
    if link.get("mlflow"):
        out.update(
            MLFLOW_TRACKING_URI=link["mlflow"]["tracking_uri"],
            MLFLOW_RUN_ID=link["mlflow"]["run_id"],
            MLFLOW_EXPERIMENT_ID=link["mlflow"]["experiment_id"],
        )
    if link.get("wandb"):
        out.update(WANDB_RUN_ID=link["wandb"]["run_id"], WANDB_RESUME="allow", WANDB_DIR=link["wandb"]["dir"])
    return out


def _close_tracker(record: RunRecord) -> None:
    """Eval-set scores and the final status into the tracker run; a failure is noted, the run is kept."""
    from .tracker import close_run

    try:
        close_run(record)
    except Exception as exc:
        record.note = ((record.note + "; ") if record.note else "") + f"tracker: {type(exc).__name__}: {exc}"[:500]
        record.save()


def _tracked_config(prep: Prepared, cfg: dict, tracked: Tracking, run_id: str) -> dict:
    """The run's config with the tracker's keys as this run needs them: the run named by its id, a local MLflow
    store made absolute (the trainer starts in the run folder). Only keys the config already has change."""
    fw = frameworks.get(prep.framework)
    values: dict = {"run_name": run_id}
    if tracked.wandb:
        values["wandb_run_name"] = run_id
    if tracked.mlflow:
        values["mlflow_tracking_uri"] = tracked.env(prep.out_dir.resolve())["MLFLOW_TRACKING_URI"]
    written = fw.write(values).config
    return {**cfg, **{k: v for k, v in written.items() if k in cfg}}


def _identify(record: RunRecord) -> None:
    """Record who runs this attempt: this ftgen process (pid, start time, command line) and the machine's boot,
    so that `ftgen stop` can prove a live process is this run's before it signals anything."""
    import os

    me = _procs.info(os.getpid())
    record.pid = os.getpid()
    record.pid_start_ticks = me.start_ticks if me else None
    record.pid_cmdline = mask_argv(list(me.cmdline)) if me else None
    record.boot_id = _procs.boot_id()
    record.started_ticks = _procs.now_ticks()
    record.child_pid = record.child_start_ticks = record.child_cmdline = None


def collect(record: RunRecord, validated: dict | None = None) -> None:
    """Fill checkpoints, metrics, history and the loss curve from the run's output folder."""
    model_dir = Path(record.path) / MODEL_DIR
    record.checkpoints = metrics.checkpoints(model_dir)
    record.last_checkpoint = record.checkpoints[-1]["path"] if record.checkpoints else None
    final, history = metrics.summarise(model_dir)
    if validated is not None:
        final["validated"] = validated
    elif "validated" in record.metrics:
        final["validated"] = record.metrics["validated"]
    record.metrics = final
    record.history = history
    png = metrics.loss_curve(history, Path(record.path) / "loss.png", f"{record.name} ({record.framework})")
    record.curve = str(png) if png else None


def load_run(ref: str, root: Path = Path("outputs")) -> RunRecord:
    """A run by folder path or by run id (searched under root)."""
    p = Path(ref)
    if (p / "run.json").is_file():
        return RunRecord.load(p)
    found = find_runs(root)
    matches = [d for d in found if d.name == ref] or [d for d in found if d.name.startswith(ref)]
    if len(matches) == 1:
        return RunRecord.load(matches[0])
    raise FtgenError(
        [
            Problem(
                "<command line>",
                "RUN",
                "no such run" if not matches else "ambiguous run id",
                found=ref,
                allowed="a run folder or id listed by `ftgen runs`"
                if not matches
                else ", ".join(m.name for m in matches),
            )
        ]
    )


def resume(ref: str, root: Path = Path("outputs"), **kw) -> RunRecord:
    record = load_run(ref, root)
    out_dir = Path(record.path).parent.parent
    return start(out_dir, record.framework, resume_run=Path(record.path), **kw)
