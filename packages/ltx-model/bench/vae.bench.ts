import { join, resolve } from "node:path";
import { conv3d, type Device, init, type Tensor } from "@a2v/tensor-webgpu";
import { bench, describe } from "vitest";
import { videoVaeConfig } from "../src/vae/config.js";
import { loadVideoVae } from "../src/vae/load.js";
import { fromHost, padFrames } from "../src/vae/tensors.js";
import { VideoVae } from "../src/vae/video-vae.js";
import { openWeights, readConfig, readTensors, tensor } from "../test/vae/golden.js";

await init();
const DEVICES: Device[] = ["cpu", "gpu"];
const filled = (shape: number[]) => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.618);
  return { shape, data };
};

// One res-block conv of the tiny golden VAE's widest level, 4x the channels: [32 -> 32, 5 x 16 x 16].
const operands = (device: Device) =>
  [filled([1, 32, 5, 16, 16]), filled([32, 32, 3, 3, 3]), filled([32])].map((h) => fromHost(h, device)) as [
    Tensor,
    Tensor,
    Tensor,
  ];
const pads: [[number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
];

describe("conv3d k3 [32 -> 32, 5x16x16] (0.06 GFLOP), replicate padding copy (incl. readback)", () => {
  for (const device of DEVICES) {
    const [x, weight, bias] = operands(device);
    bench(
      `${device} device`,
      async () => {
        const padded = padFrames(x, 2, 0);
        const y = conv3d(padded, weight, { padding: pads, bias });
        await y.toArray();
        padded.dispose();
        y.dispose();
      },
      { iterations: 5, warmupIterations: 1 },
    );
  }
});

const dir = resolve(import.meta.dirname, "../../../../shared/golden/video_vae");
const config = videoVaeConfig(readConfig(dir).vae_metadata as Record<string, unknown>);
const tensors = await readTensors(join(dir, "tensors.safetensors"));
const file = join(dir, "video_encoder.safetensors");
const source = await openWeights(file);
const encoder = await loadVideoVae("encoder", source, config, file);
await source.close();
const vaes = await Promise.all(DEVICES.map((device) => VideoVae.create({ encoder }, { device })));

describe("tiny video VAE encode [1, 3, 9, 64, 64] (incl. readback)", () => {
  for (const [i, device] of DEVICES.entries()) {
    const vae = vaes[i]!;
    const video = fromHost(tensor(tensors, "video"), device);
    bench(
      `${device} device`,
      async () => {
        const latent = await vae.encode(video);
        await latent.toArray();
        latent.dispose();
      },
      { iterations: 3, warmupIterations: 1 },
    );
  }
});
