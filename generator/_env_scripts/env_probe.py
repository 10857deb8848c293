"""Inside a framework env: print JSON with the Python version, package versions and torch build."""

# Runs as `python env_probe.py MODULE DIST [DIST ...]` with the env's interpreter.
# Must not import `generator`; standard library only (torch is inspected without importing it).
import importlib.metadata
import importlib.util
import json
import sys


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch_flavor(version):
    if version is None:
        return None
    if "+cpu" in version:
        return "cpu"
    if "+cu" in version or "+rocm" in version:
        return "cuda"
    try:  # a plain registry version: the CUDA build ships nvidia-* requirements
        reqs = importlib.metadata.requires("torch") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return "cuda" if any(r.lower().startswith("nvidia-") for r in reqs) else "cpu"


def main(argv):
    module, dists = argv[0], argv[1:]
    packages = {d: _version(d) for d in dists}
    out = {
        "python": sys.executable,
        "python_version": list(sys.version_info[:3]),
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "module_found": importlib.util.find_spec(module) is not None,
        "packages": packages,
        "torch_flavor": _torch_flavor(packages.get("torch")),
    }
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
