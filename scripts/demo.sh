#!/usr/bin/env bash
# The demo job: set-up (idempotent), then the most complete job a2v runs today on the example dataset:
# check the machine, validate the archive like the hosted service, and preprocess it into training samples
# with the debug archive (demo-output/debug_dataset.zip: one playable mp4 per sample, captions, manifest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
example=examples/dataset/a2v-example.zip
pnpm --silent a2v doctor
echo
pnpm --silent a2v validate "$example" --trigger-phrase "a2v demo"
echo
pnpm --silent a2v preprocess "$example" --out demo-output --trigger-phrase "a2v demo" \
  --resolution low --aspect-ratio 1:1 --number-of-frames 49 --frame-rate 24 --debug-dataset
