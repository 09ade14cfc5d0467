import { releaseGpu, requestGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  channelStatsGpu,
  conv3dGpu,
  depthToSpaceGpu,
  type GpuConv,
  patchifyGpu,
  pixelNormSiluGpu,
  spaceToDepthGpu,
} from "../../src/vae/gpu/ops.js";
import { type GpuTensor, gpuDownload, gpuUpload } from "../../src/vae/gpu/runtime.js";
import { conv3d, replicateFrames } from "../../src/vae/reference/conv.js";
import {
  depthToSpace,
  groupMeanChannels,
  patchifyVideo,
  sliceFrames,
  spaceToDepth,
  unpatchifyVideo,
} from "../../src/vae/reference/rearrange.js";
import {
  add,
  type HostTensor,
  hostTensor,
  perChannelStatistics,
  pixelNorm,
  reshape,
  silu,
  sliceChannels,
} from "../../src/vae/reference/tensor.js";
import { maxAbsErr } from "./golden.js";

let device: GPUDevice;
beforeAll(async () => {
  device = (await requestGpu()).device;
});
afterAll(() => releaseGpu());

/** Deterministic values in [-1, 1). */
function random(shape: number[], seed: number): HostTensor {
  let s = seed >>> 0;
  const t = hostTensor(shape);
  for (let i = 0; i < t.data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    t.data[i] = s / 2 ** 31 - 1;
  }
  return t;
}

const up = (t: HostTensor) => gpuUpload(device, t.data, t.shape.slice(1));
const down = async (t: GpuTensor) => hostTensor([1, ...t.shape], await gpuDownload(device, t));

function gpuConv(weight: HostTensor, bias: HostTensor): GpuConv {
  return {
    weight: gpuUpload(device, weight.data, weight.shape),
    bias: gpuUpload(device, bias.data, bias.shape),
    inChannels: weight.shape[1]!,
    outChannels: weight.shape[0]!,
  };
}

describe("video VAE WGSL kernels vs their CPU references", () => {
  it("conv3d: causal and symmetric replicate time padding, zero spatial padding, residual; odd sizes", async () => {
    const x = random([1, 5, 3, 5, 7], 1);
    const weight = random([37, 5, 3, 3, 3], 2);
    const bias = random([37], 3);
    const residual = random([1, 37, 3, 5, 7], 4);
    const conv = gpuConv(weight, bias);
    const pads = [
      [0, 0],
      [1, 1],
      [1, 1],
    ] as [[number, number], [number, number], [number, number]];
    for (const [before, after] of [
      [2, 0],
      [1, 1],
      [3, 0],
    ] as const) {
      const expected = conv3d(replicateFrames(x, before, after), { weight, bias: bias.data }, [1, 1, 1], pads);
      const got = await down(conv3dGpu(device, up(x), conv, before, after));
      expect(maxAbsErr(got, expected), `pad ${before}/${after}`).toBeLessThan(1e-5);
    }
    const expected = add(conv3d(replicateFrames(x, 1, 1), { weight, bias: bias.data }, [1, 1, 1], pads), residual);
    const got = await down(conv3dGpu(device, up(x), conv, 1, 1, up(residual)));
    expect(maxAbsErr(got, expected)).toBeLessThan(1e-5);
  });

  it("conv as the audio VAE uses it: depth-1 k3/k1 kernels, causal and stride-2 zero padding", async () => {
    const x = random([1, 6, 1, 9, 10], 14);
    for (const [k, stride, padH, padW] of [
      [3, 1, [2, 0], [1, 1]],
      [1, 1, [0, 0], [0, 0]],
      [3, 2, [2, 0], [0, 1]],
    ] as [number, number, [number, number], [number, number]][]) {
      const weight = random([5, 6, 1, k, k], 15 + k);
      const bias = random([5], 16);
      const expected = conv3d(x, { weight, bias: bias.data }, [1, stride, stride], [[0, 0], padH, padW]);
      const geometry = {
        kernel: [1, k, k] as [number, number, number],
        stride: [stride, stride] as [number, number],
        padH,
        padW,
      };
      const got = await down(conv3dGpu(device, up(x), gpuConv(weight, bias), 0, 0, undefined, geometry));
      expect(maxAbsErr(got, expected), `k${k} s${stride}`).toBeLessThan(1e-5);
    }
  });

  it("pixel norm + SiLU", async () => {
    const x = random([1, 6, 2, 3, 5], 5);
    expect(maxAbsErr(await down(pixelNormSiluGpu(device, up(x), 1e-8)), silu(pixelNorm(x, 1e-8)))).toBeLessThan(1e-6);
    expect(maxAbsErr(await down(pixelNormSiluGpu(device, up(x), 1e-6, false)), pixelNorm(x, 1e-6))).toBeLessThan(1e-6);
  });

  it("patchify and unpatchify (width offset before height offset)", async () => {
    const x = random([1, 3, 2, 8, 12], 6);
    const patched = patchifyVideo(x, 4);
    expect(maxAbsErr(await down(patchifyGpu(device, up(x), 4, false)), patched)).toBe(0);
    expect(maxAbsErr(await down(patchifyGpu(device, up(patched), 4, true)), unpatchifyVideo(patched, 4))).toBe(0);
  });

  it("space-to-depth downsample combine for every stride", async () => {
    for (const stride of [
      [1, 2, 2],
      [2, 1, 1],
      [2, 2, 2],
    ] as [number, number, number][]) {
      const prod = stride[0] * stride[1] * stride[2];
      const cin = 4;
      const cout = 8;
      const x = random([1, cin, 5, 4, 6], 7);
      const xd = stride[0] === 2 ? replicateFrames(x, 1, 0) : x;
      const conv = random([1, cout / prod, xd.shape[2]!, 4, 6], 8);
      const expected = add(
        spaceToDepth(conv, stride),
        groupMeanChannels(spaceToDepth(xd, stride), (cin * prod) / cout),
      );
      const got = await down(spaceToDepthGpu(device, up(x), up(conv), stride, cout, (cin * prod) / cout));
      expect(maxAbsErr(got, expected), `stride ${stride}`).toBeLessThan(1e-6);
    }
  });

  it("depth-to-space upsample with frame drop and residual", async () => {
    for (const stride of [
      [1, 2, 2],
      [2, 1, 1],
      [2, 2, 2],
    ] as [number, number, number][]) {
      const prod = stride[0] * stride[1] * stride[2];
      const cin = 16;
      const mult = 2;
      const x = random([1, cin, 3, 2, 3], 9);
      const conv = random([1, (prod * cin) / mult, 3, 2, 3], 10);
      const drop = (t: HostTensor) => (stride[0] === 2 ? sliceFrames(t, 1, t.shape[2]!) : t);
      const main = drop(depthToSpace(conv, stride));
      const skip = drop(depthToSpace(x, stride));
      const tiled = hostTensor([1, cin / mult, ...skip.shape.slice(2)]);
      for (let r = 0; r < prod / mult; r++) tiled.data.set(skip.data, r * skip.data.length);
      expect(maxAbsErr(await down(depthToSpaceGpu(device, up(x), up(conv), stride, cin / mult, false)), main)).toBe(0);
      const got = await down(depthToSpaceGpu(device, up(x), up(conv), stride, cin / mult, true));
      expect(maxAbsErr(got, add(main, tiled)), `stride ${stride}`).toBeLessThan(1e-6);
    }
  });

  it("per-channel statistics on a channel prefix, both directions", async () => {
    const x = random([1, 5, 2, 3, 3], 11);
    const mean = random([4], 12);
    const std = reshape(random([4], 13), [4]);
    for (let i = 0; i < 4; i++) std.data[i] = 0.5 + Math.abs(std.data[i]!);
    const m = gpuUpload(device, mean.data, [4]).buffer;
    const s = gpuUpload(device, std.data, [4]).buffer;
    for (const inverse of [false, true]) {
      const expected = perChannelStatistics(sliceChannels(x, 0, 4), mean.data, std.data, inverse);
      expect(maxAbsErr(await down(channelStatsGpu(device, up(x), 4, m, s, inverse)), expected)).toBeLessThan(1e-6);
    }
    // Audio latents: statistic c·F + f over the last axis F.
    const a = random([1, 3, 1, 2, 4], 17);
    const stats = random([12], 18);
    const spread = Float32Array.from(stats.data, (v) => 0.5 + Math.abs(v));
    const expected = hostTensor([1, 2, 1, 2, 4]);
    for (let c = 0; c < 2; c++)
      for (let t = 0; t < 2; t++)
        for (let f = 0; f < 4; f++) {
          const i = (c * 2 + t) * 4 + f;
          expected.data[i] = (a.data[i]! - stats.data[c * 4 + f]!) / spread[c * 4 + f]!;
        }
    const gm = gpuUpload(device, stats.data, [12]).buffer;
    const gs = gpuUpload(device, spread, [12]).buffer;
    expect(maxAbsErr(await down(channelStatsGpu(device, up(a), 2, gm, gs, false, true)), expected)).toBeLessThan(1e-6);
  });
});
