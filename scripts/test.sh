#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), lint/format check, typecheck, then every package's tests on an empty
# shader cache, closing with one "N passed, N failed" line summed over all packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
# An empty Mesa shader cache for this run, as on a fresh machine: a pipeline that lavapipe compiles slowly then
# slows the suite here too, instead of hiding behind a warm ~/.cache/mesa_shader_cache (turbo.json passes MESA_*).
MESA_SHADER_CACHE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/a2v-mesa-cache-XXXXXX")"
export MESA_SHADER_CACHE_DIR
trap 'rm -rf "$MESA_SHADER_CACHE_DIR"' EXIT
pnpm exec turbo run lint typecheck --output-logs=errors-only
node scripts/readme-exports.mjs
rm -f packages/*/.vitest-report.json
status=0
pnpm exec turbo run test --concurrency=1 --continue --output-logs=full -- \
  --reporter=default --reporter=json --outputFile.json=.vitest-report.json || status=$?
node scripts/test-summary.mjs packages/*/.vitest-report.json
exit "$status"
