import { A2VError } from "@a2v/errors";
import { expectRank, type HostTensor, hostTensor } from "./tensor.js";

/** Zero padding per axis as [before, after] for (depth, height, width). */
export type Padding3d = [[number, number], [number, number], [number, number]];

export interface Conv3dWeights {
  /** [O, C, kd, kh, kw] */
  weight: HostTensor;
  /** [O] */
  bias: Float32Array;
}

export function conv3dOutputSize(size: number, kernel: number, stride: number, pad: [number, number]): number {
  return Math.floor((size + pad[0] + pad[1] - kernel) / stride) + 1;
}

/**
 * Direct 3-D convolution of x [B, C, D, H, W] with zero padding, accumulated in float64.
 * The reference every GPU kernel and every VAE layer is checked against.
 */
export function conv3d(
  x: HostTensor,
  { weight, bias }: Conv3dWeights,
  stride: [number, number, number] = [1, 1, 1],
  padding: Padding3d = [
    [0, 0],
    [0, 0],
    [0, 0],
  ],
): HostTensor {
  expectRank(x, 5, "conv3d input");
  expectRank(weight, 5, "conv3d weight");
  const [b, c, d, h, w] = x.shape as [number, number, number, number, number];
  const [o, wc, kd, kh, kw] = weight.shape as [number, number, number, number, number];
  if (wc !== c) {
    throw new A2VError(
      "conv_channel_mismatch",
      `conv3d: input has ${c} channels, weight [${weight.shape}] expects ${wc}`,
    );
  }
  const [sd, sh, sw] = stride;
  const od = conv3dOutputSize(d, kd, sd, padding[0]);
  const oh = conv3dOutputSize(h, kh, sh, padding[1]);
  const ow = conv3dOutputSize(w, kw, sw, padding[2]);
  const [pd, ph, pw] = [padding[0][0], padding[1][0], padding[2][0]];
  const out = new Float32Array(b * o * od * oh * ow);
  const acc = new Float64Array(od * oh * ow);
  const xs = x.data;
  const ws = weight.data;
  for (let n = 0; n < b; n++) {
    for (let oc = 0; oc < o; oc++) {
      acc.fill(bias[oc]!);
      for (let ic = 0; ic < c; ic++) {
        const xBase = (n * c + ic) * d * h * w;
        for (let a = 0; a < kd; a++) {
          for (let p = 0; p < kh; p++) {
            for (let q = 0; q < kw; q++) {
              const wv = ws[(((oc * c + ic) * kd + a) * kh + p) * kw + q]!;
              for (let z = 0; z < od; z++) {
                const iz = z * sd + a - pd;
                if (iz < 0 || iz >= d) continue;
                for (let y = 0; y < oh; y++) {
                  const iy = y * sh + p - ph;
                  if (iy < 0 || iy >= h) continue;
                  const row = xBase + (iz * h + iy) * w;
                  const accRow = (z * oh + y) * ow;
                  for (let t = 0; t < ow; t++) {
                    const ix = t * sw + q - pw;
                    if (ix < 0 || ix >= w) continue;
                    acc[accRow + t] = acc[accRow + t]! + wv * xs[row + ix]!;
                  }
                }
              }
            }
          }
        }
      }
      out.set(acc, (n * o + oc) * od * oh * ow);
    }
  }
  return hostTensor([b, o, od, oh, ow], out);
}

/** Repeats the first frame `before` times and the last frame `after` times along axis 2 of [B, C, D, H, W]. */
export function replicateFrames(x: HostTensor, before: number, after: number): HostTensor {
  const [b, c, d, h, w] = x.shape as [number, number, number, number, number];
  const plane = h * w;
  const nd = d + before + after;
  const out = new Float32Array(b * c * nd * plane);
  for (let bc = 0; bc < b * c; bc++) {
    for (let z = 0; z < nd; z++) {
      const src = Math.min(Math.max(z - before, 0), d - 1);
      out.set(x.data.subarray((bc * d + src) * plane, (bc * d + src + 1) * plane), (bc * nd + z) * plane);
    }
  }
  return hostTensor([b, c, nd, h, w], out);
}
