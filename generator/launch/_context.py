"""What the launch templates need from a Build: topology, frameworks, configs, names, accelerators."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, frameworks
from ..frameworks import Framework
from ..frameworks._base import TORCHRUN_PORT
from ..plan import Distributed

MASTER_PORT = TORCHRUN_PORT  # torchrun's default rendezvous port

# GPU catalog name -> SkyPilot accelerator name (as `sky show-gpus` lists them; plain A100/H100/V100
# are SkyPilot's names for the 40 GB / 80 GB / 16 GB parts).
SKY_ACCELERATOR = {
    "T4": "T4",
    "V100-16GB": "V100",
    "V100-32GB": "V100-32GB",
    "A10G": "A10G",
    "L4": "L4",
    "RTX3090": "RTX3090",
    "RTX4090": "RTX4090",
    "L40S": "L40S",
    "A100-40GB": "A100",
    "A100-80GB": "A100-80GB",
    "H100-80GB": "H100",
    "H200-141GB": "H200",
    "B200": "B200",
}


SKY_TREE = "~/ftgen-tree"  # where sky.yaml mirrors the build folder and its outside data on each node
K8S_DATA_CLAIM = "ftgen-data"  # the PVC pytorchjob.yaml mounts the outside data from
_K8S_RESERVED = ("/", "/bin", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr", "/workspace")


@dataclass(frozen=True)
class ClusterData:
    """Local training files outside the build folder and how the cluster files carry them.

    The build's configs name such a file relative to the build folder (../../data/train.jsonl), so on a node it
    must lie at the same place relative to the build folder. sky.yaml: file_mounts upload the build folder and
    the files into one tree under ~/ftgen-tree, mirrored from their common ancestor here, and `run` starts from
    the build folder's copy there. pytorchjob.yaml: the pods see this folder at /workspace/<name> (PVC
    ftgen-outputs holds outputs/); a file outside outputs/ is found through a mount of PVC ftgen-data at its
    folder's place, with the same path below the PVC's root (copied there by the user).
    """

    sky_mounts: tuple[tuple[str, str], ...] = ()  # (remote path, local source relative to the build folder)
    sky_build: str = ""  # the build folder's mirror: `run` starts there ("" when nothing is mounted)
    k8s_mounts: tuple[tuple[str, str], ...] = ()  # (mountPath in the pod, subPath in PVC ftgen-data)
    k8s_unmounted: tuple[str, ...] = ()  # files no mount can place (a system folder of the image)


def _one_line(text: str) -> bool:
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def cluster_data(files: list[str], base_dir: Path, out_dir: Path, name: str) -> ClusterData:
    """ClusterData for the spec's local training files (relative to base_dir, or absolute) of a build written to
    out_dir. An absolute path stays absolute in the configs: it is placed at the same absolute path."""
    import os
    import posixpath

    out = out_dir.resolve()
    outside = []  # (absolute file, the path the config names it by)
    for name_ in files:
        given = Path(name_)
        f = (given if given.is_absolute() else base_dir / given).resolve()
        if f == out or out in f.parents:
            continue  # in the build folder: workdir / the outputs volume carry it
        outside.append((f, str(given) if given.is_absolute() else Path(os.path.relpath(f, out)).as_posix()))
    if not outside:
        return ClusterData()

    def ups(rel: str) -> int:
        parts = rel.split("/")
        return next((i for i, part in enumerate(parts) if part != ".."), len(parts))

    up = max((ups(rel) for _, rel in outside if not rel.startswith("/")), default=0)
    root = out.parents[up - 1] if 0 < up <= len(out.parents) else out
    sky_build = posixpath.join(SKY_TREE, out.relative_to(root).as_posix()) if up else SKY_TREE
    sky = [(sky_build, ".")]
    k8s: dict[str, str] = {}
    unmounted = []
    for f, rel in outside:
        # a name no YAML line can carry (a newline, a control character) is uploaded with its folder instead
        local, remote = rel, (rel if rel.startswith("/") else posixpath.join(SKY_TREE, f.relative_to(root).as_posix()))
        while not (_one_line(local) and _one_line(remote)) and posixpath.dirname(local) not in ("", "/", local):
            local, remote = posixpath.dirname(local), posixpath.dirname(remote)
        if _one_line(local) and _one_line(remote):
            sky.append((remote, local))
        pod = rel if rel.startswith("/") else posixpath.normpath(posixpath.join("/workspace", name, rel))
        if pod.startswith("/workspace/"):
            continue  # under outputs/: on the outputs volume already
        folder = posixpath.dirname(pod)
        if folder in _K8S_RESERVED or folder.startswith(("/proc/", "/sys/", "/dev/", "/workspace/")):
            unmounted.append(rel)
        else:
            k8s[folder] = folder.lstrip("/")
    return ClusterData(tuple(dict.fromkeys(sky)), sky_build, tuple(sorted(k8s.items())), tuple(unmounted))


@dataclass(frozen=True)
class LaunchContext:
    """Plain values the templates render; nothing here is pasted without a filter."""

    name: str
    spec_file: str
    version: str
    sha12: str
    frameworks: tuple[str, ...]
    configs: dict[str, str]
    nodes: int
    gpus_per_node: int
    cpu: bool
    gpu_name: str
    gpu_vram_gb: float
    distributed: str
    deepspeed_file: str  # "" when the plan uses no DeepSpeed
    hours: float | None
    master_port: int = MASTER_PORT
    trackers: tuple[str, ...] = ()  # the spec's tracking backends (none: every tracker off)
    tracking_env: dict[str, str] = field(default_factory=dict)  # MLFLOW_* / WANDB_* defaults, from the build folder
    python_modules: tuple[str, ...] = ()  # Python files the build ships beside the configs (reward functions, ...)
    # the spec's cluster: block (slurm.sbatch only)
    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None  # Slurm --time; None: no limit written
    time_from: str = ""  # where time_limit comes from, said in a comment
    signal_seconds: int = 300
    sbatch_extra: tuple[str, ...] = ()
    # local training data outside the build folder, placed where the config's relative paths find it on the nodes
    data: ClusterData = field(default_factory=lambda: ClusterData())

    @property
    def world(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def default_framework(self) -> str:
        return self.frameworks[0]

    @property
    def missing_frameworks(self) -> tuple[str, ...]:
        """Supported frameworks this build has no config for (launch.sh refuses them by name)."""
        return tuple(fw for fw in frameworks.names() if fw not in self.frameworks)

    @property
    def framework_objects(self) -> tuple[Framework, ...]:
        """The build's frameworks, whose modules say how each one launches."""
        return tuple(frameworks.get(fw) for fw in self.frameworks)

    @property
    def job(self) -> str:
        """A Kubernetes/SkyPilot/Slurm name: starts with a letter, short enough for pod host names."""
        return f"ftgen-{self.name}"[:50].rstrip("-")

    def sky_accelerators(self, gpus: dict) -> str | dict[str, int] | None:
        """`H100:8`; for a GPU known only by its memory, every catalog GPU at least that big."""
        if self.cpu:
            return None
        if self.gpu_name in SKY_ACCELERATOR:
            return f"{SKY_ACCELERATOR[self.gpu_name]}:{self.gpus_per_node}"
        return {
            SKY_ACCELERATOR[n]: self.gpus_per_node
            for n, g in gpus.items()
            if n in SKY_ACCELERATOR and g.vram_gb >= self.gpu_vram_gb
        }


TIME_FACTOR = 1.5  # the plan's estimate is rough: the default limit is this much of it ...
TIME_MARGIN_MIN = 15  # ... plus this (startup, env creation on first use, eval of checkpoints)


def slurm_time(minutes: int) -> str:
    """Minutes as Slurm's D-HH:MM:00 (or HH:MM:00 under a day)."""
    days, rest = divmod(max(1, minutes), 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00" if days else f"{hours:02d}:{mins:02d}:00"


def time_limit(spec_time: str | None, hours: float | None) -> tuple[str | None, str]:
    """(--time value or None, where it comes from): the spec's cluster.time, else the estimate with a margin."""
    import math

    if spec_time:
        return spec_time, "cluster.time in the spec"
    if hours is None:
        return None, "the plan has no time estimate: the partition's default limit applies (set cluster.time)"
    minutes = math.ceil(hours * 60 * TIME_FACTOR) + TIME_MARGIN_MIN
    return slurm_time(minutes), (
        f"the plan's estimate ~{hours:.1f} h x {TIME_FACTOR} + {TIME_MARGIN_MIN} min (set cluster.time to change it)"
    )


def context(build) -> LaunchContext:
    """The launch context of a compiled Build."""
    from ..tracking import from_plan

    plan, spec = build.plan, build.spec
    dist = Distributed(plan.get("distributed", "single"))
    tracked = from_plan(plan, spec, build.out_path)
    hours = plan.time_cost.hours if plan.time_cost else None
    cluster = spec.cluster
    limit, limit_from = time_limit(cluster.time, hours)
    return LaunchContext(
        name=spec.name,
        spec_file=Path(spec.file).name,
        version=__version__,
        sha12=spec.sha256[:12],
        frameworks=tuple(plan.frameworks),
        configs={fw: frameworks.get(fw).config_name for fw in plan.frameworks},
        nodes=spec.hardware.nodes,
        gpus_per_node=spec.hardware.gpus_per_node,
        cpu=build.facts.gpu.is_cpu,
        gpu_name=build.facts.gpu.name,
        gpu_vram_gb=build.facts.gpu.vram_gb,
        distributed=dist.value,
        deepspeed_file=dist.deepspeed_file or "",
        hours=hours,
        partition=cluster.partition,
        account=cluster.account,
        time_limit=limit,
        time_from=limit_from,
        signal_seconds=cluster.signal_seconds,
        sbatch_extra=tuple(cluster.sbatch),
        trackers=tracked.backends if tracked else (),
        tracking_env=tracked.env() if tracked else {},
        python_modules=tuple(sorted(n for r in build.rendered for n in r.extra_files if n.endswith(".py"))),
        data=cluster_data(list(build.facts.data.local_files), spec.base_dir, build.out_path, spec.name),
    )
