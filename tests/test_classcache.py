"""The compiled-methods cache of ftgen's record classes (generator/_classcache.py): the command line serves the
methods dataclasses writes from the cache, the classes come out the same, and a cache file that is not the user's
private, well-formed own is never used. Each case runs a fresh interpreter (the cache is installed once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MANY = 60  # at least one text per record class a build defines (dataclasses' exec: per method, or per class on 3.13+)

PROBE = """
import dataclasses, json, sys
import generator.cli  # installs the cache, as `ftgen` does
import generator.build, generator.launch, generator.facts.lock  # the classes a build defines
from generator import _classcache

ftgen_added = _classcache._added

@dataclasses.dataclass(frozen=True)
class Probe:  # a class of another module (__main__): compiled as always, never kept
    a: int
    b: tuple = dataclasses.field(default_factory=tuple)
    c: str = "x"

p = Probe(1)
try:
    p.a = 2
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
same = all(compile(src, "<string>", "exec", dont_inherit=True) == code for src, code in _classcache._codes.items())
print(json.dumps({
    "installed": vars(dataclasses).get("exec") is _classcache._exec, "foreign_kept": _classcache._added - ftgen_added,
    "entries": len(_classcache._codes), "added": _classcache._added, "same_code": same,
    "probe": [repr(p), p == Probe(1, ()), hash(p) == hash(Probe(1)), frozen, Probe(2, (3,), "y").b],
}))
"""


def probe(where: Path, code: str = PROBE) -> dict:
    """Run `code` in a new interpreter with FTGEN_HOME at where/home (and a temp folder of its own, where the cache
    goes when home's cannot be used)."""
    (where / "tmp").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env |= {"FTGEN_HOME": str(where / "home"), "TMPDIR": str(where / "tmp")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cache_file(where: Path) -> Path:
    (entry,) = (where / "home" / "data").glob("dataclass-code.*.marshal")
    return entry


def test_the_second_process_takes_every_method_from_the_cache(tmp_path):
    first = probe(tmp_path)
    # one text per method (Python 3.10-3.12: ~370 for the ~65 classes a build defines) or per class (3.13+)
    assert first["installed"] and first["added"] >= MANY, "the first run compiles the methods and keeps them"
    assert first["foreign_kept"] == 0, "another module's class is not kept"
    entry = cache_file(tmp_path)
    assert entry.stat().st_mode & 0o777 == 0o600 and (tmp_path / "home" / "data").stat().st_mode & 0o777 == 0o700
    second = probe(tmp_path)
    assert second["added"] == 0, "nothing left to compile"
    assert second["entries"] == first["entries"]
    assert second["same_code"], "each cached code object is the one compile() makes of its text"
    assert second["probe"] == first["probe"] == ["Probe(a=1, b=(), c='x')", True, True, True, [3]]


def test_importing_ftgen_as_a_library_leaves_dataclasses_alone(tmp_path):
    code = "import dataclasses, generator.build; print(int('exec' in vars(dataclasses)))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"FTGEN_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("damage", ["garbage", "wrong-stamp", "others-may-write", "folder-open-to-all"])
def test_a_cache_file_that_is_not_private_and_well_formed_is_not_used(tmp_path, damage):
    probe(tmp_path)
    entry = cache_file(tmp_path)
    if damage == "garbage":
        entry.write_bytes(b"\x00not marshal data")
    elif damage == "wrong-stamp":
        import marshal

        entry.write_bytes(marshal.dumps(((0, b"old", "x"), {"def f(): pass": compile("1", "<x>", "exec")})))
    elif damage == "others-may-write":
        entry.chmod(0o666)
    else:
        (tmp_path / "home" / "data").chmod(0o777)
    again = probe(tmp_path)
    assert again["added"] >= MANY, "everything is compiled again"
    assert again["same_code"] and again["probe"][0] == "Probe(a=1, b=(), c='x')"


def test_a_full_cache_keeps_only_what_the_process_used(tmp_path, monkeypatch):
    """Texts of older versions do not pile up without end: past MAX_ENTRIES, a save keeps this process's texts."""
    import marshal

    probe(tmp_path)
    entry = cache_file(tmp_path)
    stamp, codes = marshal.loads(entry.read_bytes())
    stale = {f"def stale_{i}(): pass": compile("pass", "<string>", "exec") for i in range(2100)}
    entry.write_bytes(marshal.dumps((stamp, {**stale, **codes})))
    # a new ftgen record class (made in a module of the package's name): a save, which drops the stale texts
    extra = PROBE + (
        "import types\n"
        "module = sys.modules['generator._probe'] = types.ModuleType('generator._probe')\n"
        "exec('import dataclasses\\n@dataclasses.dataclass\\nclass New:\\n    fresh_field: int = 7\\n', vars(module))\n"
        "assert _classcache._added > ftgen_added\n"
    )
    probe(tmp_path, extra)
    _, kept = marshal.loads(entry.read_bytes())
    assert not any(text.startswith("def stale_") for text in kept)
    assert len(codes) < len(kept) < len(codes) + 10 and any("fresh_field" in text for text in kept)
