#!/usr/bin/env bash
# The whole test suite from nothing: ftgen in .venv, both framework envs (fresh under CI), shellcheck, pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m "not e2e"` for the fast tests only);
# FTGEN_TEST_WORKERS=0 runs the tests in this process, one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${CI:-}" = "true" ]; then
  # build the framework envs into a fresh folder every time, so the install path itself is tested
  FTGEN_HOME="$(mktemp -d /tmp/ftgen-ci.XXXXXX)"
  export FTGEN_HOME
  # ~6.6 GB of envs per run: remove them when the suite passes; a failure keeps them (and the install logs
  # an error names) to look into, as does FTGEN_KEEP_ENVS=1
  if [ "${FTGEN_KEEP_ENVS:-}" != "1" ]; then
    # shellcheck disable=SC2317  # called by the EXIT trap
    cleanup_envs() {
      local status=$?
      if [ "$status" -eq 0 ]; then rm -rf "$FTGEN_HOME"; else echo "framework envs kept: $FTGEN_HOME"; fi
    }
    trap cleanup_envs EXIT
  fi
fi
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq shellcheck) >/dev/null 2>&1 || echo "shellcheck not installed; its checks will skip"
fi
# A single-node Slurm for the Slurm e2e tests (tests/run/test_slurm_e2e.py): installed and started as root with
# apt-get, stopped at the end when this script started it; otherwise those tests skip with the reason.
slurm_started=""
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  if ! bash scripts/slurm_local.sh status >/dev/null 2>&1; then
    if bash scripts/slurm_local.sh start >/dev/null; then slurm_started=1; else echo "local Slurm not started; the slurm tests will skip"; fi
  fi
fi
# shellcheck disable=SC2317  # called by the EXIT trap
stop_slurm() { if [ -n "$slurm_started" ]; then bash scripts/slurm_local.sh stop || true; fi; }
echo "ruff: lint and format check"
.venv/bin/ruff check --quiet generator tests benchmarks scripts
.venv/bin/ruff format --check --quiet generator tests benchmarks scripts
start=$(date +%s)
.venv/bin/ftgen env install axolotl llamafactory
echo "framework envs ready in $(( $(date +%s) - start )) s"
set +e
# two pytest-xdist workers (FTGEN_TEST_WORKERS): the e2e tests spend most of their time starting a framework,
# one process at a time; tests that need a machine-wide resource share one worker (tests/conftest.py)
.venv/bin/python -m pytest -p no:cacheprovider -q -rs --durations=15 -n "${FTGEN_TEST_WORKERS:-2}" --dist loadgroup "$@"
rc=$?
stop_slurm
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit 5)"
  # a selection that matches nothing is the caller's choice; the full suite collecting nothing is a failure
  if [ "$#" -gt 0 ]; then exit 0; else exit 1; fi
fi
exit "$rc"
