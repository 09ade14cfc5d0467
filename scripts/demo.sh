#!/usr/bin/env bash
# The demo job: set-up (idempotent), then the most complete job a2v runs today: check the machine, then validate
# the example dataset exactly as the hosted service would (grouping, probing, the 422 rules).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
pnpm --silent a2v doctor
echo
pnpm --silent a2v validate examples/dataset/a2v-example.zip --trigger-phrase "a2v demo"
