"""Runs on Slurm: `ftgen run --launcher slurm` records the run, submits slurm.sbatch (and the eval as a dependent
job) and returns; status comes from squeue and the run folder; the end state is collected like a local run's.

The batch job writes its own state and exit code to runs/<id>/slurm-state.json (the trap in slurm.sbatch), so end
states do not depend on Slurm accounting (sacct needs slurmdbd; squeue forgets finished jobs). Listings derive
the status in memory (`derive`); `refresh` saves it and collects checkpoints, metrics and the loss curve.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .. import _io
from ..errors import Exit, FtgenError, Problem
from ..tracking import Tracking
from .record import Derived, RunRecord, new_run_dir, now

STATE_FILE = "slurm-state.json"
SAVE_FILE = ".ftgen-save-requested"  # the batch script's SIGUSR1 trap creates it: the trainer saves and stops
STOPPED_FILE = ".ftgen-saved-on-signal.json"  # the trainer's hook writes it after that save: {"step": N}
ENDED = ("succeeded", "failed", "cancelled", "interrupted")
_RUNNING = ("RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING")
_WHERE = "ftgen run --launcher slurm"


def _problem(key: str, message: str, found=None, allowed=None, file: str = _WHERE) -> FtgenError:
    return FtgenError([Problem(file, key, message, found, allowed)], Exit.RUN_FAILED)


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise FtgenError(
            [
                Problem(
                    _WHERE,
                    "--launcher",
                    f"{name} is not installed here: run ftgen on a Slurm login node",
                    allowed="a machine with the Slurm client commands (sbatch, squeue, scancel) on PATH",
                )
            ],
            Exit.INVALID,
        )
    return exe


def _sbatch(argv: list[str], cwd: Path, env: dict | None = None) -> str:
    """Run sbatch --parsable; the job id."""
    proc = subprocess.run(argv, cwd=cwd, env=env, text=True, capture_output=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise _problem(
            "--launcher",
            f"sbatch failed with exit status {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-2000:]}",
            shlex.join(argv),
        )
    return proc.stdout.strip().split(";")[0]


def trainer_job_env(build_dir: Path, run_dir: Path) -> dict[str, str]:
    """What a run's batch job needs in its environment beside FTGEN_ENV_BIN: the run folder, the trainer's
    PYTHONPATH (launch.sh appends it: the build's shipped modules and ftgen's hook, which records peak memory and
    saves a checkpoint when the batch script's SIGUSR1 trap creates FTGEN_SAVE_FILE), and ftgen's Python."""
    from . import peak_memory

    hook = peak_memory.hook_env(run_dir)
    return {
        "FTGEN_RUN_DIR": str(run_dir),
        "FTGEN_TRAINER_PYTHONPATH": os.pathsep.join([str(Path(build_dir).resolve()), hook["PYTHONPATH"]]),
        "FTGEN_MEMORY_DIR": hook["FTGEN_MEMORY_DIR"],
        "FTGEN_SAVE_FILE": str(run_dir / SAVE_FILE),
        "FTGEN_STOPPED_FILE": str(run_dir / STOPPED_FILE),
        "FTGEN_PYTHON": sys.executable,
    }


def submit(
    out_dir: Path,
    framework: str | None = None,
    *,
    env_root: Path | None = None,
    evaluate: bool = True,
    resume_run: Path | None = None,
    hold: bool = False,
) -> RunRecord:
    """Create (or continue) the run folder and run.json, submit slurm.sbatch for it and the eval after it; return
    the record (status queued). Raises FtgenError when sbatch is missing or refuses the job.

    hold: create the run (and open its tracker run) and return it unsubmitted (job_id None): a sweep submits its
    trials as one array job (run/sweep_launch.py, with `tracker_job_env` per task) and their evals with
    `submit_eval`."""
    from . import MODEL_DIR, _dataset_hashes, _get_env, _git, metrics, prepare
    from .runner import sha256_file

    prep = prepare(out_dir, framework)
    sbatch_file = prep.out_dir / "slurm.sbatch"
    if not sbatch_file.is_file():
        raise FtgenError(
            [Problem(str(prep.out_dir), "slurm.sbatch", "not found: run `ftgen build` again (every build writes it)")]
        )
    sbatch = _tool("sbatch")
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
            raise FtgenError(
                [
                    Problem(
                        str(run_dir),
                        "--resume",
                        "the run has no checkpoint to resume from",
                        found=record.run_id,
                        allowed="a run with runs/<id>/model/checkpoint-N",
                    )
                ]
            )
        resume_from = cps[-1]["path"]
        record.attempts.append(
            {
                k: getattr(record, k)
                for k in ("status", "started_at", "finished_at", "exit_code", "signal", "last_checkpoint")
            }
            | {"job_id": (record.scheduler or {}).get("job_id")}
        )
        record.started_at, record.finished_at = now(), None
        record.exit_code = record.signal = record.note = None
    run_dir = Path(record.path)
    tracked = Tracking.from_dict(prep.plan.get("tracking"))
    cfg = _write_config(prep, record, resume_from, tracked)
    shutil.copyfile(prep.out_dir / "launch.sh", run_dir / "launch.sh")
    os.chmod(run_dir / "launch.sh", 0o755)
    shutil.copyfile(prep.config_path, run_dir / f"source-{prep.config_path.name}")
    (run_dir / STATE_FILE).unlink(missing_ok=True)

    (run_dir / SAVE_FILE).unlink(missing_ok=True)
    (run_dir / STOPPED_FILE).unlink(missing_ok=True)
    job_env = dict(os.environ, FTGEN_ENV_BIN=str(env.bin_dir), **trainer_job_env(prep.out_dir, run_dir))
    argv = [
        "sbatch",
        "--parsable",
        "--requeue",
        f"--output={run_dir / 'train.log'}",
        "--open-mode=append",
        "slurm.sbatch",
        prep.framework,
    ]
    shown = (
        f"cd {shlex.quote(str(prep.out_dir.resolve()))} && FTGEN_RUN_DIR={shlex.quote(str(run_dir))} "
        f"FTGEN_ENV_BIN={shlex.quote(str(env.bin_dir))} {shlex.join(argv)}"
    )
    from .. import envs

    manifest = envs.read_manifest(env.root) or {}
    record.launcher = "slurm"
    record.status = "queued"
    record.command = argv
    record.versions = dict(manifest.get("versions") or {}, **{prep.framework: env.version})
    record.env_python = str(env.python)
    record.config_sha256 = sha256_file(prep.config_path)
    record.spec_sha256 = prep.plan.get("spec_sha256", "")
    record.datasets = _dataset_hashes(prep, cfg)
    record.git_commit, record.git_dirty = _git(prep.out_dir)
    record.scheduler = {"kind": "slurm", "job_id": None, "submit_command": shown, "state": "SUBMITTING"}
    record.save()
    if tracked is not None:  # the tracker run opens here, at submission, as `ftgen run` opens it before training
        job_env.update(_job_tracker_env(tracked, record, prep, resume_run is not None))
        record.save()
    if hold:
        return record
    job_id = _sbatch([sbatch, *argv[1:]], prep.out_dir.resolve(), job_env)
    sched = dict(record.scheduler, job_id=job_id, state="PENDING", eval_job_id=None, cancel_requested_at=None)
    sched["job_name"] = _job_name(sbatch_file)
    sched["follow"] = [f"squeue -j {job_id}", f"tail -f {shlex.quote(str(run_dir / 'train.log'))}"]
    record.scheduler = sched
    record.save()
    if evaluate and prep.plan.get("eval_set"):
        submit_eval(record, job_id, env_root, job_env)
    return record


def submit_eval(record: RunRecord, job_id: str, env_root: Path | None, job_env: dict | None = None) -> None:
    """Submit the run's eval as a job that starts when job_id (a job, or an array task 123_4) succeeded."""
    run_dir = Path(record.path)
    eval_argv = [
        "sbatch",
        "--parsable",
        f"--dependency=afterok:{job_id}",
        "--kill-on-invalid-dep=yes",
        f"--job-name={(record.scheduler or {}).get('job_name') or 'ftgen'}-eval",
        f"--output={run_dir / 'eval.log'}",
        "--open-mode=append",
        f"--chdir={run_dir}",
        "--wrap",
        shlex.join(_eval_command(run_dir, env_root)),
    ]
    eval_id = _sbatch([_tool("sbatch"), *eval_argv[1:]], run_dir, job_env)
    record.scheduler = dict(record.scheduler or {}, eval_job_id=eval_id)
    record.save()


def _job_tracker_env(tracked: Tracking, record: RunRecord, prep, resumed: bool) -> dict[str, str]:
    """The trainer job's tracker variables: the tracker run opened now (or, for --resume, the one the first attempt
    opened), as a local `ftgen run` gives them; an unreachable tracker stops the submission here."""
    from . import _open_tracker, _tracker_env

    env = tracked.env(prep.out_dir.resolve(), run_name=record.run_id)
    if resumed and record.tracker:
        record.tracker = {k: v for k, v in record.tracker.items() if k != "closed_at"}  # it runs again
        return {**env, **_tracker_env(record)}
    return {**env, **_open_tracker(tracked, record, prep, Path(record.path))}


def tracker_job_env(build_dir: Path, record: RunRecord) -> dict[str, str]:
    """The tracker variables of a run whose tracker run `submit` opened (record.tracker): what its batch job needs
    (for an array task, which `submit(hold=True)` created); none for an untracked run."""
    from ..tracking import Tracking
    from . import _tracker_env

    plan = json.loads((Path(build_dir) / "plan.json").read_text())
    tracked = Tracking.from_dict(plan.get("tracking"))
    if tracked is None or not record.tracker:
        return {}
    return {**tracked.env(Path(build_dir).resolve(), run_name=record.run_id), **_tracker_env(record)}


def close_tracker(record: RunRecord) -> None:
    """Eval-set scores and the final status into the tracker run, once: by the eval job after the evaluation, or
    by the refresh that finds the training ended when no eval job follows it."""
    from . import _close_tracker

    link = record.tracker if isinstance(record.tracker, dict) else {}
    if not link or link.get("closed_at"):
        return
    _close_tracker(record)
    record.tracker = {**record.tracker, "closed_at": now()}
    record.save()


def _write_config(prep, record: RunRecord, resume_from: str | None, tracked: Tracking | None = None) -> dict:
    """The run's config (output_dir = runs/<id>/model, resuming from `resume_from`; the tracker's run name and
    store as `ftgen run` sets them), as config.yaml and under the framework's file name, which the run's copy of
    launch.sh reads."""
    from ..render._yamlsafe import yaml_document
    from ..write import atomic_write
    from . import _tracked_config, run_config

    run_dir = Path(record.path)
    cfg = run_config(prep, run_dir, resume_from)
    if tracked is not None:
        cfg = _tracked_config(prep, cfg, tracked, record.run_id)
    text = (
        f"# {prep.framework} config for run {record.run_id}: {prep.config_path.name} with output_dir and local paths "
        "resolved by `ftgen run --launcher slurm`"
        + (f", resuming from {Path(resume_from).name}" if resume_from else "")
        + "\n"
        + yaml_document(cfg)
    )
    atomic_write(run_dir / "config.yaml", text)
    atomic_write(run_dir / prep.config_path.name, text)
    return cfg


def requeued(run_dir: str) -> int:
    """Run by slurm.sbatch at the start of a requeued job (SLURM_RESTART_COUNT > 0): record the attempt the
    time-limit signal ended and point the run's config at its last checkpoint, as `ftgen run --resume` does."""
    from . import MODEL_DIR, metrics, prepare

    try:
        record = RunRecord.load(run_dir)
        prep = prepare(Path(record.path).parent.parent, record.framework)
        cps = metrics.checkpoints(Path(record.path) / MODEL_DIR)
        sched = dict(record.scheduler or {})
        restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
        resume_from = cps[-1]["path"] if cps else None
        try:  # written by ftgen's trainer hook after its save on the time-limit signal
            saved = json.loads(_io.read_text(Path(record.path) / STOPPED_FILE, STOPPED_FILE, 1 << 12)[0]).get("step")
        except (FtgenError, ValueError, OSError, AttributeError):
            saved = None
        why = (
            f"time-limit signal: checkpoint saved at step {saved}, Slurm restart {restarts}"
            if saved is not None
            else f"Slurm requeued the job (node failure, preemption or scontrol requeue), restart {restarts}"
        )
        record.attempts.append(
            {k: getattr(record, k) for k in ("started_at", "exit_code", "signal")}
            | {
                "status": "interrupted",
                "finished_at": now(),
                "last_checkpoint": resume_from,
                "job_id": sched.get("job_id"),
                "requeued": why,
            }
        )
        sched["requeues"] = int(sched.get("requeues") or 0) + 1
        record.scheduler = sched
        record.status, record.started_at, record.finished_at = "running", now(), None
        record.exit_code = record.signal = None
        record.note = f"{why}; resuming from {Path(resume_from).name if resume_from else 'the start'}"
        _write_config(prep, record, resume_from, Tracking.from_dict(prep.plan.get("tracking")))
        record.save()
        print(f"ftgen: requeued run {record.run_id}: {record.note}", file=sys.stderr)
    except (FtgenError, OSError, ValueError) as exc:
        print(f"ftgen: could not prepare the requeued run: {exc}", file=sys.stderr)
        return 1
    return 0


def _job_name(sbatch_file: Path) -> str | None:
    for line in _io.read_text(sbatch_file, str(sbatch_file), 1 << 20)[0].splitlines():
        if line.startswith("#SBATCH --job-name="):
            return line.split("=", 1)[1].strip()
    return None


def _eval_command(run_dir: Path, env_root: Path | None) -> list[str]:
    """The eval job: collect the finished training (as `runs --refresh` does), then score base vs fine-tuned."""
    code = "import sys; from generator.run.slurm import eval_job; sys.exit(eval_job(sys.argv[1], sys.argv[2] or None))"
    return [sys.executable, "-c", code, str(run_dir), str(env_root or "")]


def eval_job(run_dir: str, env_root: str | None = None) -> int:
    """Body of the dependent eval job (runs on a Slurm node): refresh the record, then evaluate the run."""
    from ..evaluate import evaluate_run
    from .runner import console_printer

    record = RunRecord.load(run_dir)
    refresh(record)
    try:
        evaluate_run(record, env_root=Path(env_root) if env_root else None, on_line=console_printer(quiet=False))
    except FtgenError as exc:
        record = RunRecord.load(run_dir)
        record.eval = {"error": exc.render(), "evaluated_at": now()}
        record.save()
        close_tracker(record)
        print(exc.render(), file=sys.stderr)
        return 1
    close_tracker(RunRecord.load(run_dir))
    return 0


# ---------------------------------------------------------------------------------------------- status


def job_state(job_id: str | None) -> tuple[str, str] | None:
    """(state, reason) as squeue lists the job, or None when squeue does not list it (ended, or no squeue)."""
    return _squeue(job_id)[0]


def _squeue(job_id: str | None) -> tuple[tuple[str, str] | None, str | None]:
    """((state, reason) or None, why squeue could not answer or None). squeue -j of a job Slurm has forgotten
    exits 1 with "Invalid job id specified"; one of a job that ended lists nothing: both mean not listed. Any
    other failure (the controller is down or busy) is no answer about the job."""
    exe = shutil.which("squeue")
    if not job_id or exe is None:
        return None, None
    try:
        proc = subprocess.run(
            [exe, "-h", "-j", str(job_id), "-o", "%T|%r"], text=True, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"squeue failed: {type(exc).__name__}: {exc}"
    if proc.returncode != 0:
        said = (proc.stderr + proc.stdout).strip()
        if "invalid job id" in said.lower():
            return None, None
        return None, f"squeue failed with exit status {proc.returncode}: {said[-300:] or 'no output'}"
    line = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    if not line:
        return None, None
    state, _, reason = line.partition("|")
    return (state.strip(), reason.strip()), None


def read_state(record: RunRecord) -> dict | None:
    """The job's own record of its state (slurm-state.json), when it is the current job's."""
    try:
        data = json.loads(_io.read_text(record.dir / STATE_FILE, STATE_FILE, 1 << 16)[0])
    except (FtgenError, ValueError, OSError):
        return None
    job = (record.scheduler or {}).get("job_id")
    if not isinstance(data, dict):
        return None
    if job and str(data.get("job_id")) != str(job) and str(data.get("job_id")) != _task_job_id(record):
        return None
    return data


TASK_FILE = "slurm-task.json"  # an array task's own job id (SLURM_JOB_ID), written by the sweep's array job


def _task_job_id(record: RunRecord) -> str | None:
    """The job id Slurm gave this run's array task (its state file names that one, not 123_4), or None."""
    if not (record.scheduler or {}).get("array_job_id"):
        return None
    try:
        data = json.loads(_io.read_text(record.dir / TASK_FILE, TASK_FILE, 1 << 16)[0])
    except (FtgenError, ValueError, OSError):
        return None
    return str(data.get("job_id")) if isinstance(data, dict) and data.get("job_id") else None


def derive(record: RunRecord) -> Derived:
    """A Slurm run's status now, from the job's state file and squeue: never writes."""
    sched = record.scheduler or {}
    if record.status in ENDED and record.finished_at:
        return Derived(record.status)
    own = read_state(record) or {}
    state = own.get("state")
    if state in ENDED:
        return Derived(state, state != record.status, f"Slurm job {sched.get('job_id')} {state}")
    listed, unanswered = _squeue(sched.get("job_id"))
    requeues = f", requeued {sched['requeues']}x after the time-limit signal" if sched.get("requeues") else ""
    if listed is not None:
        slurm_state, reason = listed
        status = "running" if slurm_state in _RUNNING and state != "requeued" else "queued"
        if state == "requeued":
            requeues = ", requeued after the time-limit signal (checkpoint saved)"
        note = (
            f"Slurm job {sched.get('job_id')} {slurm_state}"
            + (f" ({reason})" if reason and reason != "None" else "")
            + requeues
        )
        return Derived(status, status != record.status, note)
    if shutil.which("squeue") is None:
        return Derived(record.status, False, "squeue is not on PATH here: status as last recorded")
    if unanswered:  # not "the job is gone": a listing must not turn a live run into a failed one
        return Derived(record.status, False, f"{unanswered}: status as last recorded")
    if sched.get("cancel_requested_at"):
        return Derived("cancelled", True, f"Slurm job {sched.get('job_id')} cancelled by `ftgen stop`")
    if state == "requeued":
        # A requeued job stays in squeue (PENDING) until its next attempt starts and rewrites the state file, so
        # not listed means Slurm ended it before that attempt began (e.g. slurmctld "Killing non-startable batch
        # JobId=N: Job credential revoked"). Nothing else records that end: the run would look queued forever.
        return Derived(
            "failed",
            True,
            f"Slurm job {sched.get('job_id')} was requeued after the time-limit signal (checkpoint saved), but Slurm "
            "ended it before the requeued attempt started (squeue no longer lists it; see slurmctld's log); "
            "continue it with `ftgen run --resume <run folder> --launcher slurm`",
        )
    if state == "running":
        return Derived(
            "failed",
            True,
            f"Slurm job {sched.get('job_id')} ended without recording its end (time limit, "
            "node failure or scancel -9?)",
        )
    return Derived("failed", True, f"Slurm job {sched.get('job_id')} is gone and never started (see train.log)")


def refresh(record: RunRecord) -> bool:
    """Save the derived status; once the job ended, collect what a local run collects. True when it changed."""
    from . import collect

    derived = derive(record)
    if not derived.stale:
        return False
    record.status = derived.status
    record.note = derived.note
    sched = dict(record.scheduler or {})
    listed = job_state(sched.get("job_id"))
    sched["state"], sched["reason"] = listed if listed else ("ENDED", None)
    record.scheduler = sched
    if derived.status in ENDED:
        own = read_state(record) or {}
        code = own.get("exit_code")
        record.exit_code = code if isinstance(code, int) else None
        record.finished_at = own.get("at") if derived.status == own.get("state") else now()
        try:
            collect(record)
        except Exception as exc:  # a broken output folder must not lose the run's status
            record.note = f"{record.note}; collecting metrics failed: {type(exc).__name__}: {exc}"
    record.save()
    if derived.status in ENDED and (derived.status != "succeeded" or not sched.get("eval_job_id")):
        close_tracker(record)  # no eval job will: it runs only after a successful training
    return True


def wait(record: RunRecord, on_line: Callable[[str, bool], None] | None = None, poll: float = 2.0) -> RunRecord:
    """Follow the job until it and its eval job end, showing train.log as a local run shows its output."""
    from .progress import Progress

    log = record.dir / "train.log"
    offset = log.stat().st_size if log.is_file() else 0
    progress = Progress()
    buf = b""
    last_status = None

    def pump() -> None:
        nonlocal offset, buf
        if not log.is_file():
            return
        with open(log, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
        offset += len(chunk)
        buf += chunk
        cut = max(buf.rfind(b"\n"), buf.rfind(b"\r")) + 1
        done, buf = buf[:cut], buf[cut:]
        for raw in done.replace(b"\r", b"\n").split(b"\n"):
            if raw and on_line:
                line = raw.decode("utf-8", "replace")
                on_line(line, progress.feed(line))

    try:
        while True:
            pump()
            record = RunRecord.load(record.dir)  # the eval job writes it too: never save a stale copy
            refresh(record)
            if record.status != last_status and on_line:
                on_line(f"[ftgen] {record.run_id}: {record.status} ({record.note or ''})", False)
                last_status = record.status
            if record.status in ENDED:
                break
            time.sleep(poll)
        pump()
        eval_job = (record.scheduler or {}).get("eval_job_id")
        if record.status == "succeeded" and eval_job:
            if on_line:
                on_line(f"[ftgen] eval job {eval_job}: scoring base and fine-tuned models", False)
            while job_state(eval_job) is not None:
                time.sleep(poll)
            record = RunRecord.load(record.dir)
            refresh(record)
            if not record.eval:
                record.eval = {
                    "error": f"the eval job {eval_job} wrote no scores (see eval.log)",
                    "evaluated_at": now(),
                }
                record.save()
    finally:
        close = getattr(on_line, "close", None)
        if close is not None:
            close()
    return record


# ---------------------------------------------------------------------------------------------- stop


def stop(record: RunRecord, orphans: bool = False):
    """`ftgen stop` for a Slurm run: scancel its job (and its eval job); the job records itself cancelled."""
    from .stop import StopResult

    sched = dict(record.scheduler or {})
    jobs = [str(j) for j in (sched.get("job_id"), sched.get("eval_job_id")) if j]
    live = [j for j in jobs if job_state(j) is not None]
    if not live:
        changed = refresh(record)
        return StopResult(f"run {record.run_id} is not queued or running (status {record.status})", changed=changed)
    exe = _tool("scancel")
    proc = subprocess.run([exe, *live], text=True, capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise _problem("job_id", f"scancel failed: {(proc.stdout + proc.stderr).strip()[-2000:]}", ", ".join(live))
    sched["cancel_requested_at"] = now()
    record.scheduler = sched
    record.save()
    return StopResult(
        f"cancelled Slurm job(s) {', '.join(live)} of {record.run_id} (scancel): the job records the run as "
        "cancelled; `ftgen runs --refresh` collects its last checkpoint",
        [("slurm job", int(j) if j.isdigit() else 0, "scancel") for j in live],
        changed=True,
    )
