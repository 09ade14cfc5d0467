import { init, releaseGpu, slice, type Tensor } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { depthToSpaceSum, patchify, spaceToDepthSum, unpatchify } from "../../src/vae/gpu-rearrange.js";
import {
  denormalizeChannels,
  normalizeChannels,
  normSiluPadded,
  padFrames,
  toGpu,
  toHost,
} from "../../src/vae/gpu-tensors.js";
import { replicateFrames } from "../../src/vae/reference/conv.js";
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
  silu,
} from "../../src/vae/reference/tensor.js";
import { maxAbsErr } from "./golden.js";

beforeAll(() => init());
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

const err = async (t: Tensor, expected: HostTensor) => maxAbsErr(await toHost(t), expected);
const STRIDES: [number, number, number][] = [
  [1, 2, 2],
  [2, 1, 1],
  [2, 2, 2],
];

describe("video VAE tensor pieces on @a2v/tensor-webgpu vs the CPU reference", () => {
  it("replicate time padding, plain and fused with pixel norm + SiLU (causal and symmetric)", async () => {
    const x = random([2, 5, 3, 4, 6], 1);
    for (const [before, after] of [
      [2, 0],
      [1, 1],
      [3, 0],
    ] as const) {
      const padded = replicateFrames(x, before, after);
      expect(await err(padFrames(toGpu(x), before, after), padded)).toBe(0);
      const normed = silu(pixelNorm(padded, 1e-8));
      expect(await err(normSiluPadded(toGpu(x), 1e-8, before, after), normed)).toBeLessThan(1e-6);
    }
  });

  it("patchify and unpatchify (width offset before height offset), from a strided view too", async () => {
    const x = random([1, 3, 2, 8, 12], 6);
    const patched = patchifyVideo(x, 4);
    expect(await err(patchify(toGpu(x), 4), patched)).toBe(0);
    const wide = random([1, 3, 2, 8, 20], 7);
    for (let i = 0; i < wide.data.length; i++)
      if (i % 20 < 12) wide.data[i] = x.data[Math.floor(i / 20) * 12 + (i % 20)]!;
    expect(await err(patchify(slice(toGpu(wide), 4, 0, 12), 4), patched)).toBe(0);
    expect(await err(unpatchify(toGpu(patched), 4), unpatchifyVideo(patched, 4))).toBe(0);
  });

  it("space-to-depth downsample sum for every stride and group size", async () => {
    for (const stride of STRIDES) {
      const prod = stride[0] * stride[1] * stride[2];
      for (const cout of [8, 4 * prod]) {
        const cin = 4;
        const x = random([2, cin, 6, 4, 6], 7);
        const conv = random([2, cout / prod, 6, 4, 6], 8);
        const group = (cin * prod) / cout;
        const expected = add(spaceToDepth(conv, stride), groupMeanChannels(spaceToDepth(x, stride), group));
        const got = spaceToDepthSum(toGpu(x), toGpu(conv), stride, group);
        expect(await err(got, expected), `stride ${stride}, group ${group}`).toBeLessThan(1e-6);
      }
    }
  });

  it("depth-to-space upsample sum with frame drop, with and without the tiled residual", async () => {
    for (const stride of STRIDES) {
      const prod = stride[0] * stride[1] * stride[2];
      const [cin, mult] = [16, 2];
      const x = random([2, cin, 3, 2, 3], 9);
      const conv = random([2, (prod * cin) / mult, 3, 2, 3], 10);
      const drop = (t: HostTensor) => (stride[0] === 2 ? sliceFrames(t, 1, t.shape[2]!) : t);
      const main = drop(depthToSpace(conv, stride));
      const skip = drop(depthToSpace(x, stride));
      const tiled = hostTensor([2, cin / mult, ...skip.shape.slice(2)]);
      const item = skip.data.length / 2;
      for (let n = 0; n < 2; n++)
        for (let r = 0; r < prod / mult; r++)
          tiled.data.set(skip.data.subarray(n * item, (n + 1) * item), (n * (prod / mult) + r) * item);
      expect(await err(depthToSpaceSum(toGpu(conv), stride), main)).toBe(0);
      const got = depthToSpaceSum(toGpu(conv), stride, toGpu(x));
      expect(await err(got, add(main, tiled)), `stride ${stride}`).toBeLessThan(1e-6);
    }
  });

  it("per-channel statistics on a channel prefix, both directions", async () => {
    const x = random([2, 5, 2, 3, 3], 11);
    const mean = random([4], 12);
    const std = hostTensor(
      [4],
      Float32Array.from(random([4], 13).data, (v) => 0.5 + Math.abs(v)),
    );
    const [m, s] = [
      toGpu({ shape: [1, 4, 1, 1, 1], data: mean.data }),
      toGpu({ shape: [1, 4, 1, 1, 1], data: std.data }),
    ];
    const prefix = slice(toGpu(x), 1, 0, 4);
    const host = await toHost(prefix);
    expect(
      await err(normalizeChannels(prefix, m, s), perChannelStatistics(host, mean.data, std.data, false)),
    ).toBeLessThan(1e-6);
    expect(
      await err(denormalizeChannels(prefix, m, s), perChannelStatistics(host, mean.data, std.data, true)),
    ).toBeLessThan(1e-6);
  });
});
