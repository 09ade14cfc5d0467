import { type Device, init, releaseGpu, slice, type Tensor } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { depthToSpaceSum, patchify, spaceToDepthSum, unpatchify } from "../../src/vae/rearrange.js";
import {
  denormalizeChannels,
  fromHost,
  normalizeChannels,
  normSiluPadded,
  padFrames,
  toHost,
} from "../../src/vae/tensors.js";
import { maxAbsErr } from "./golden.js";

beforeAll(() => init());
afterAll(() => releaseGpu());

/** Host values with their shape: the oracles below are plain loops over these. */
interface Host {
  shape: number[];
  data: Float32Array;
}
type Stride = [number, number, number];
const host = (shape: number[], data?: Float32Array): Host => ({
  shape,
  data: data ?? new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

/** Deterministic values in [-1, 1). */
function random(shape: number[], seed: number): Host {
  let s = seed >>> 0;
  const t = host(shape);
  for (let i = 0; i < t.data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    t.data[i] = s / 2 ** 31 - 1;
  }
  return t;
}

/** Element-wise over equally long values. */
const zip = (a: Host, b: Host, f: (x: number, y: number) => number): Host =>
  host(
    [...a.shape],
    Float32Array.from(a.data, (v, i) => f(v, b.data[i]!)),
  );

/**
 * `b c (d p1) (h p2) (w p3) <-> b (c p1 p2 p3) d h w` (`inverse`: depth to space). With `swapHw` the
 * block offset order is (p1, p3, p2): the VAE patchify's width offset before its height offset.
 */
function shuffle(x: Host, [p1, p2, p3]: Stride, inverse: boolean, swapHw = false): Host {
  const [b, cIn, dIn, hIn, wIn] = x.shape as [number, number, number, number, number];
  const g = p1 * p2 * p3;
  const [c, d, h, w] = inverse ? [cIn / g, dIn, hIn, wIn] : [cIn, dIn / p1, hIn / p2, wIn / p3];
  const out = new Float32Array(x.data.length);
  for (let n = 0; n < b; n++)
    for (let k = 0; k < c; k++)
      for (let i1 = 0; i1 < p1; i1++)
        for (let i2 = 0; i2 < p2; i2++)
          for (let i3 = 0; i3 < p3; i3++) {
            const ch = k * g + (swapHw ? (i1 * p3 + i3) * p2 + i2 : (i1 * p2 + i2) * p3 + i3);
            for (let z = 0; z < d; z++)
              for (let y = 0; y < h; y++)
                for (let t = 0; t < w; t++) {
                  const lo = (((n * c * g + ch) * d + z) * h + y) * w + t;
                  const hi = (((n * c + k) * d * p1 + z * p1 + i1) * h * p2 + y * p2 + i2) * w * p3 + t * p3 + i3;
                  if (inverse) out[hi] = x.data[lo]!;
                  else out[lo] = x.data[hi]!;
                }
          }
  return host(inverse ? [b, c, d * p1, h * p2, w * p3] : [b, c * g, d, h, w], out);
}

/** Frames [from, to) of [B, C, D, H, W], each index clamped into [0, D): replicate padding when out of range. */
function frames(x: Host, from: number, to: number): Host {
  const [b, c, d, h, w] = x.shape as [number, number, number, number, number];
  const out = host([b, c, to - from, h, w]);
  for (let bc = 0; bc < b * c; bc++)
    for (let z = from; z < to; z++) {
      const src = (bc * d + Math.min(Math.max(z, 0), d - 1)) * h * w;
      out.data.set(x.data.subarray(src, src + h * w), (bc * (to - from) + z - from) * h * w);
    }
  return out;
}

/** Mean over `group` consecutive channels, or (with `repeat`) the channels tiled that many times. */
function channels(x: Host, { group = 1, repeat = 1 }): Host {
  const [b, c] = x.shape as [number, number];
  const inner = x.data.length / (b * c);
  const nc = (c / group) * repeat;
  const out = host([b, nc, ...x.shape.slice(2)]);
  for (let n = 0; n < b; n++)
    for (let k = 0; k < nc; k++)
      for (let i = 0; i < inner; i++) {
        let s = 0;
        for (let j = 0; j < group; j++) s += x.data[(n * c + ((k * group) % c) + j) * inner + i]!;
        out.data[(n * nc + k) * inner + i] = s / group;
      }
  return out;
}

/** silu(x / sqrt(mean_c x² + eps)) over axis 1. */
function normSilu(x: Host, eps: number): Host {
  const [b, c] = x.shape as [number, number];
  const inner = x.data.length / (b * c);
  const out = host([...x.shape]);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += x.data[(n * c + k) * inner + i]! ** 2;
      const r = 1 / Math.sqrt(s / c + eps);
      for (let k = 0; k < c; k++) {
        const v = x.data[(n * c + k) * inner + i]! * r;
        out.data[(n * c + k) * inner + i] = v / (1 + Math.exp(-v));
      }
    }
  return out;
}

const STRIDES: Stride[] = [
  [1, 2, 2],
  [2, 1, 1],
  [2, 2, 2],
];

// The same rearrangement code on both devices, against independent index loops.
describe.each(["cpu", "gpu"] as Device[])("video VAE tensor pieces on the %s device", (device) => {
  const on = (h: Host) => fromHost(h, device);
  const err = async (t: Tensor, expected: Host) => {
    expect(t.device).toBe(device);
    return maxAbsErr(await toHost(t), expected);
  };

  it("replicate time padding, plain and fused with pixel norm + SiLU (causal and symmetric)", async () => {
    const x = random([2, 5, 3, 4, 6], 1);
    for (const [before, after] of [
      [2, 0],
      [1, 1],
      [3, 0],
    ] as const) {
      const padded = frames(x, -before, 3 + after);
      expect(await err(padFrames(on(x), before, after), padded)).toBe(0);
      expect(await err(normSiluPadded(on(x), 1e-8, before, after), normSilu(padded, 1e-8))).toBeLessThan(1e-6);
    }
  });

  it("patchify and unpatchify (width offset before height offset), from a strided view too", async () => {
    const x = random([1, 3, 2, 8, 12], 6);
    const patched = shuffle(x, [1, 4, 4], false, true);
    expect(await err(patchify(on(x), 4), patched)).toBe(0);
    const wide = random([1, 3, 2, 8, 20], 7);
    for (let i = 0; i < wide.data.length; i++)
      if (i % 20 < 12) wide.data[i] = x.data[Math.floor(i / 20) * 12 + (i % 20)]!;
    expect(await err(patchify(slice(on(wide), 4, 0, 12), 4), patched)).toBe(0);
    expect(await err(unpatchify(on(patched), 4), x)).toBe(0);
  });

  it("space-to-depth downsample sum for every stride and group size", async () => {
    for (const stride of STRIDES) {
      const prod = stride[0] * stride[1] * stride[2];
      for (const cout of [8, 4 * prod]) {
        const cin = 4;
        const x = random([2, cin, 6, 4, 6], 7);
        const conv = random([2, cout / prod, 6, 4, 6], 8);
        const group = (cin * prod) / cout;
        const expected = zip(
          shuffle(conv, stride, false),
          channels(shuffle(x, stride, false), { group }),
          (a, b) => a + b,
        );
        const got = spaceToDepthSum(on(x), on(conv), stride, group);
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
      const drop = (t: Host) => (stride[0] === 2 ? frames(t, 1, t.shape[2]!) : t);
      const main = drop(shuffle(conv, stride, true));
      const tiled = drop(channels(shuffle(x, stride, true), { repeat: prod / mult }));
      expect(await err(depthToSpaceSum(on(conv), stride), main)).toBe(0);
      const got = depthToSpaceSum(on(conv), stride, on(x));
      expect(
        await err(
          got,
          zip(main, tiled, (a, b) => a + b),
        ),
        `stride ${stride}`,
      ).toBeLessThan(1e-6);
    }
  });

  it("per-channel statistics on a channel prefix, both directions", async () => {
    const x = random([2, 5, 2, 3, 3], 11);
    const mean = random([1, 4, 1, 1, 1], 12);
    const std = host(
      [1, 4, 1, 1, 1],
      Float32Array.from(random([4], 13).data, (v) => 0.5 + Math.abs(v)),
    );
    const prefix = slice(on(x), 1, 0, 4);
    const values = await toHost(prefix);
    const per = (f: (v: number, m: number, s: number) => number) =>
      host(
        values.shape,
        Float32Array.from(values.data, (v, i) => {
          const k = Math.floor(i / 18) % 4;
          return f(v, mean.data[k]!, std.data[k]!);
        }),
      );
    const [m, s] = [on(mean), on(std)];
    expect(
      await err(
        normalizeChannels(prefix, m, s),
        per((v, mu, sd) => (v - mu) / sd),
      ),
    ).toBeLessThan(1e-6);
    expect(
      await err(
        denormalizeChannels(prefix, m, s),
        per((v, mu, sd) => v * sd + mu),
      ),
    ).toBeLessThan(1e-6);
  });
});
