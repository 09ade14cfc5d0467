#!/usr/bin/env bash
# Runs on a lent GPU machine, from the repo root, with .gpu-kit carried (made by scripts/gpu-kit.sh):
# the matmul and attention benchmarks at the sizes (A2V_BENCH_SCALE=8, 32 heads) with the adapter's
# report. Arguments pick groups (matmul, attention, quantized, conv). `step [modes...]` instead runs full-width
# 22B training steps per base-weight mode (bf16 fp8 int8 by default; A2V_STEP_LAYERS blocks, default 8) with
# step time and measured peak memory. Output: stdout and $OUT/bench.md (or $OUT/step.md), $OUT/adapter.txt.
set -uo pipefail
kit=.gpu-kit
out=${OUT:-/tmp/a2v-gpu}
mkdir -p "$out"
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in "$kit"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$icd}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
bin=$(mktemp -d)
xz -dc "$kit/node.xz" >"$bin/node" && chmod +x "$bin/node"
addon="$kit/app/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -f "$addon" ] || xz -dc "$addon.xz" >"$addon"
(nvidia-smi 2>&1 || true) | tee "$out/adapter.txt"
if [ "${1:-}" = step ]; then
  shift
  "$bin/node" "$kit/app/gpu-step.mjs" "$@" | tee "$out/step.md"
  exit "${PIPESTATUS[0]}"
fi
export A2V_BENCH_SCALE=${A2V_BENCH_SCALE:-8} A2V_BENCH_HEADS=${A2V_BENCH_HEADS:-32}
"$bin/node" "$kit/app/bench-dist/bench/standalone.js" "$@" | tee "$out/bench.md"
