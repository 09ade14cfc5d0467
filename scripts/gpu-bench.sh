#!/usr/bin/env bash
# Runs on a lent GPU machine, from the repo root, with .gpu-kit carried (made by scripts/gpu-kit.sh):
# the matmul and attention benchmarks at the sizes (A2V_BENCH_SCALE=8, 32 heads) with the adapter's
# report. Arguments pick groups (matmul, attention). Output: stdout and $OUT/bench.md, $OUT/adapter.txt.
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
export A2V_BENCH_SCALE=${A2V_BENCH_SCALE:-8} A2V_BENCH_HEADS=${A2V_BENCH_HEADS:-32}
"$bin/node" "$kit/app/bench-dist/bench/standalone.js" "$@" | tee "$out/bench.md"
