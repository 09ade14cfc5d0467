#!/usr/bin/env bash
# The demo job: set-up (idempotent), then the most complete job a2v runs today.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
pnpm --silent a2v doctor
