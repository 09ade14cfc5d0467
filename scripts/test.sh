#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), lint/format check, typecheck, then every package's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
pnpm exec biome ci --colors=off .
pnpm exec turbo run typecheck --output-logs=errors-only
pnpm exec turbo run test --concurrency=1 --output-logs=full
