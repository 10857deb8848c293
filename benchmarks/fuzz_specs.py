"""Fuzz spec loading and building with generated specs (valid, mutated, junk); report outcomes; exit 1 on any crash.

    python benchmarks/fuzz_specs.py [--n 10000] [--seed 0] [--yaml-every 10]

Each spec goes through from_dict + compile_spec in memory (nothing is written); every --yaml-every'th one is also
dumped to YAML and read back through spec.load, as a file from a user would be. A crash is any exception other than
FtgenError, a Problem without a file or key path, or a built config that does not parse back to its values or
carries YAML tags or anchors.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "hardening")]

import _hardening_strategies as S  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hseed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _kind(problem) -> str:
    """A problem's kind for the report: its message with values and numbers blanked out."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", problem.message)
    return re.sub(r"\d+(\.\d+)?", "N", text)[:90]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="specs to generate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--yaml-every", type=int, default=10, help="also round-trip every Nth spec through a YAML file")
    ap.add_argument("--show", type=int, default=5, help="crashes to print in full")
    args = ap.parse_args()

    import yaml

    from generator.errors import FtgenError
    from generator.spec import load

    counts: collections.Counter = collections.Counter()
    origin: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()
    crashes: list[tuple[object, list[str]]] = []
    times: list[float] = []
    spent: collections.Counter = collections.Counter()  # outcome -> seconds in from_dict + compile
    tmp = Path(tempfile.mkdtemp(prefix="ftgen-fuzz-"))
    spec_file = tmp / "fuzz.yaml"

    strategy = st.one_of(
        st.tuples(st.just("valid"), S.valid_specs()),
        st.tuples(st.just("mutated"), S.mutated_specs()),
        st.tuples(st.just("junk"), S.junk),
    )

    @hseed(args.seed)
    @settings(
        max_examples=args.n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def one(case):
        source, data = case
        start = time.perf_counter()
        outcome, faults, problems = S.classify(data, tmp, tmp / "outputs")
        times.append(time.perf_counter() - start)
        i = len(times)
        if outcome != "crashed" and args.yaml_every and i % args.yaml_every == 0:
            try:
                spec_file.write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
                load(spec_file)
            except FtgenError as exc:
                faults += S.problem_faults(exc.problems, data)
            except yaml.YAMLError:
                pass  # PyYAML cannot write this value (e.g. a key it cannot represent); nothing of ftgen's
            except Exception as exc:
                faults.append(f"spec.load: {type(exc).__name__}: {exc}")
        if faults:
            outcome = "crashed"
            crashes.append((data, faults))
        counts[outcome] += 1
        spent[outcome] += times[-1]
        origin[(source, outcome)] += 1
        for p in problems:
            kinds[_kind(p)] += 1

    wall = time.perf_counter()
    one()
    wall = time.perf_counter() - wall
    total = sum(counts.values())
    print(
        f"specs: {total} in {wall:.1f} s wall ({total / wall:.0f} specs/s including generation); "
        f"ftgen itself: {sum(times):.1f} s ({total / max(sum(times), 1e-9):.0f} specs/s, median "
        f"{sorted(times)[len(times) // 2] * 1000:.1f} ms per spec in from_dict + compile)"
    )
    for outcome in ("ok", "rejected", "crashed"):
        by = ", ".join(f"{src} {origin[(src, outcome)]}" for src in ("valid", "mutated", "junk"))
        mean = spent[outcome] / counts[outcome] * 1000 if counts[outcome] else 0.0
        print(f"  {outcome:9} {counts[outcome]:6}  ({by}; mean {mean:.1f} ms)")
    print("top problem kinds:")
    for kind, n in kinds.most_common(15):
        print(f"  {n:6}  {kind}")
    for data, faults in crashes[: args.show]:
        print("\nCRASH on", repr(data)[:500])
        for f in faults:
            print("  ", f)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
