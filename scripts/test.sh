#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), lint/format check, typecheck, then every package's tests,
# closing with one "N passed, N failed" line summed over all packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
pnpm exec turbo run lint typecheck --output-logs=errors-only
rm -f packages/*/.vitest-report.json
status=0
pnpm exec turbo run test --concurrency=1 --output-logs=full -- \
  --reporter=default --reporter=json --outputFile.json=.vitest-report.json || status=$?
node scripts/test-summary.mjs packages/*/.vitest-report.json
exit "$status"
