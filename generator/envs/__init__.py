"""Managed framework environments: one isolated virtualenv per framework and pinned version."""

from ._env import FIXED_VARS, MANIFEST, Env, EnvInfo, env_root, redact
from ._install import EnvInstallError, install, resolve_torch_flavor
from ._registry import check_health, get_env, list_envs, load_env, read_manifest, use_external
from ._scripts import ScriptError, run_json, script_path
from ._specs import SPECS, TORCH_VERSION, EnvSpec, Step

__all__ = [
    "FIXED_VARS",
    "MANIFEST",
    "SPECS",
    "TORCH_VERSION",
    "Env",
    "EnvInfo",
    "EnvInstallError",
    "EnvSpec",
    "ScriptError",
    "Step",
    "check_health",
    "env_root",
    "get_env",
    "install",
    "list_envs",
    "load_env",
    "read_manifest",
    "redact",
    "resolve_torch_flavor",
    "run_json",
    "script_path",
    "use_external",
]
