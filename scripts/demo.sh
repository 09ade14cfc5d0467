#!/usr/bin/env bash
# The demo job: set-up (idempotent), then a whole training job on the embedded tiny model:
# check the machine, then `a2v train` on examples/dataset/a2v-example.zip (validate like the hosted service,
# preprocess, encode with the tiny model's VAEs and Gemma 3, train a LoRA for 100 steps, write the outputs).
# Outputs land in demo-output/: lora_weights.safetensors, config.json, debug_dataset.zip, checkpoints/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
pnpm --silent a2v doctor
echo
pnpm --silent a2v train examples/train/demo-input.json --out demo-output
