#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run the benchmarks there. That machine has no Node, so the kit
# carries Node, Dawn's node addon, the built runtime with its standalone bench, the full-width training-step
# bench bundled into one file (packages/trainer/bench/gpu-step.ts), and the Vulkan loader.
# Then one device call runs them (about 30 MB travels):
#   run(command="bash scripts/gpu-bench.sh", carry=[".gpu-kit"], timeout_s=540)
#   run(command="bash scripts/gpu-bench.sh step", carry=[".gpu-kit"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh # installs and builds (bench-dist included)

kit=.gpu-kit
rm -rf "$kit"
mkdir -p "$kit/app/node_modules/@a2v/errors" "$kit/app/node_modules/webgpu/dist/linux-x64" "$kit/debs"
xz -T0 -6 -c "$(command -v node)" >"$kit/node.xz"
webgpu=$(cd packages/tensor-webgpu && node -p "require('node:path').dirname(require.resolve('webgpu/package.json'))")
cp "$webgpu/package.json" "$webgpu/index.js" "$kit/app/node_modules/webgpu/"
xz -T0 -6 -c "$webgpu/dist/linux-x64/dawn.node" >"$kit/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
cp -r packages/errors/package.json packages/errors/dist "$kit/app/node_modules/@a2v/errors/"
cp -r packages/tensor-webgpu/bench-dist "$kit/app/"
# The step bench and every workspace module it imports in one file (TypeScript sources; Dawn stays external).
node_modules/.bin/esbuild packages/trainer/bench/gpu-step.ts --bundle --platform=node --format=esm --target=node20 \
  --conditions=source --external:webgpu --log-level=warning --outfile="$kit/app/gpu-step.mjs"
# The Vulkan loader, for a machine without one (the device tool's README): amd64 debs, unpacked there.
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64)
if ! (cd "$kit/debs" && apt-get "${o[@]}" download libvulkan1 >/dev/null 2>&1); then
  echo "[gpu-kit] could not download libvulkan1; the GPU machine must have a Vulkan loader" >&2
fi
du -sh "$kit" | sed 's/^/[gpu-kit] /' >&2
