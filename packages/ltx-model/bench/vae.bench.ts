import { join, resolve } from "node:path";
import { requestGpu } from "@a2v/tensor-webgpu";
import { bench, describe } from "vitest";
import { videoScaleFactors, videoVaeConfig } from "../src/vae/config.js";
import { conv3dGpu } from "../src/vae/gpu/ops.js";
import { gpuDownload, gpuFree, gpuUpload } from "../src/vae/gpu/runtime.js";
import { GpuVideoVae } from "../src/vae/gpu/video-vae.js";
import { loadVideoVae } from "../src/vae/load.js";
import { conv3d, replicateFrames } from "../src/vae/reference/conv.js";
import { hostTensor } from "../src/vae/reference/tensor.js";
import { encodeVideoReference } from "../src/vae/reference/video-vae.js";
import { openWeights, readConfig, readTensors, tensor } from "../test/vae/golden.js";

const { device } = await requestGpu();
const filled = (shape: number[]) => {
  const t = hostTensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.sin(i * 0.618);
  return t;
};

// One res-block conv of the tiny golden VAE's widest level, 4x the channels: [32 -> 32, 5 x 16 x 16].
const x = filled([1, 32, 5, 16, 16]);
const weight = filled([32, 32, 3, 3, 3]);
const bias = filled([32]);
const gx = gpuUpload(device, x.data, x.shape.slice(1));
const conv = {
  weight: gpuUpload(device, weight.data, weight.shape),
  bias: gpuUpload(device, bias.data, [32]),
  inChannels: 32,
  outChannels: 32,
};
const pads: [[number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
];

describe("conv3d k3 [32 -> 32, 5x16x16] (0.06 GFLOP)", () => {
  bench(
    "CPU reference (float64 accumulate)",
    () => {
      conv3d(replicateFrames(x, 2, 0), { weight, bias: bias.data }, [1, 1, 1], pads);
    },
    { iterations: 5, warmupIterations: 1 },
  );
  bench(
    "WGSL implicit GEMM (incl. readback)",
    async () => {
      const y = conv3dGpu(device, gx, conv, 2, 0);
      await gpuDownload(device, y);
      gpuFree(y);
    },
    { iterations: 5, warmupIterations: 1 },
  );
});

const dir = resolve(import.meta.dirname, "../../../../shared/golden/video_vae");
const config = videoVaeConfig(readConfig(dir).vae_metadata as Record<string, unknown>);
const tensors = await readTensors(join(dir, "tensors.safetensors"));
const file = join(dir, "video_encoder.safetensors");
const source = await openWeights(file);
const encoder = await loadVideoVae("encoder", source, config, file);
await source.close();
const gpuEncoder = GpuVideoVae.create(device, encoder, "encoder");
const video = tensor(tensors, "video");

describe("tiny video VAE encode [1, 3, 9, 64, 64]", () => {
  bench(
    "CPU reference",
    () => {
      encodeVideoReference(video, encoder.layout, encoder.weights, config.patchSize, videoScaleFactors(config));
    },
    { iterations: 3, warmupIterations: 1 },
  );
  bench(
    "GPU (WGSL kernels)",
    async () => {
      await gpuEncoder.run(video);
    },
    { iterations: 3, warmupIterations: 1 },
  );
});
