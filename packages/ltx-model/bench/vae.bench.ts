import { join, resolve } from "node:path";
import { conv3d as conv3dGpu, init } from "@a2v/tensor-webgpu";
import { bench, describe } from "vitest";
import { videoScaleFactors, videoVaeConfig } from "../src/vae/config.js";
import { padFrames, toGpu } from "../src/vae/gpu-tensors.js";
import { loadVideoVae } from "../src/vae/load.js";
import { conv3d, replicateFrames } from "../src/vae/reference/conv.js";
import { hostTensor } from "../src/vae/reference/tensor.js";
import { encodeVideoReference } from "../src/vae/reference/video-vae.js";
import { GpuVideoVae } from "../src/vae/video-vae-gpu.js";
import { openWeights, readConfig, readTensors, tensor } from "../test/vae/golden.js";

await init();
const filled = (shape: number[]) => {
  const t = hostTensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.sin(i * 0.618);
  return t;
};

// One res-block conv of the tiny golden VAE's widest level, 4x the channels: [32 -> 32, 5 x 16 x 16].
const x = filled([1, 32, 5, 16, 16]);
const weight = filled([32, 32, 3, 3, 3]);
const bias = filled([32]);
const gx = toGpu(x);
const [gw, gb] = [toGpu(weight), toGpu(bias)];
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
    "tensor-webgpu implicit GEMM, replicate padding copy (incl. readback)",
    async () => {
      const padded = padFrames(gx, 2, 0);
      const y = conv3dGpu(padded, gw, { padding: pads, bias: gb });
      await y.toArray();
      padded.dispose();
      y.dispose();
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
const gpuVae = await GpuVideoVae.create({ encoder });
const video = tensor(tensors, "video");
const gpuVideo = toGpu(video);

describe("tiny video VAE encode [1, 3, 9, 64, 64]", () => {
  bench(
    "CPU reference",
    () => {
      encodeVideoReference(video, encoder.layout, encoder.weights, config.patchSize, videoScaleFactors(config));
    },
    { iterations: 3, warmupIterations: 1 },
  );
  bench(
    "GPU (tensor-webgpu, incl. readback)",
    async () => {
      const latent = await gpuVae.encode(gpuVideo);
      await latent.toArray();
      latent.dispose();
    },
    { iterations: 3, warmupIterations: 1 },
  );
});
