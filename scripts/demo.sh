#!/usr/bin/env bash
# The main job, end to end on CPU: set up ftgen, build the tiny example spec, create the LLaMA-Factory env,
# make the tiny model, train it, and show the collected checkpoints, metrics and eval-set scores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
FTGEN=.venv/bin/ftgen
$FTGEN env install llamafactory
$FTGEN tiny-model examples/models/tiny-llama --data examples/data/colours-train.jsonl
$FTGEN build examples/tiny-cpu.yaml
$FTGEN run outputs/tiny-cpu
$FTGEN runs outputs/tiny-cpu
