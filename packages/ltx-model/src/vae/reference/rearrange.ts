import { type HostTensor, hostTensor } from "./tensor.js";

type Factors = [number, number, number];

/**
 * `b c (d p1) (h p2) (w p3) -> b (c p1 p2 p3) d h w` (`inverse`: the reverse). With `swapHw` the
 * channel order is (c p1 p3 p2), i.e. the width offset before the height offset, as the VAE's
 * patchify does (`b c (f p) (h q) (w r) -> b (c p r q) f h w`).
 */
function depthShuffle(x: HostTensor, [p1, p2, p3]: Factors, inverse: boolean, swapHw: boolean): HostTensor {
  const [b, cIn, dIn, hIn, wIn] = x.shape as [number, number, number, number, number];
  const group = p1 * p2 * p3;
  const [c, d, h, w] = inverse ? [cIn / group, dIn, hIn, wIn] : [cIn, dIn / p1, hIn / p2, wIn / p3];
  // (c, d, h, w) index the low-resolution side; (i1, i2, i3) the offset inside a block.
  const out = new Float32Array(x.data.length);
  const big = [d * p1, h * p2, w * p3] as const;
  for (let n = 0; n < b; n++) {
    for (let k = 0; k < c; k++) {
      for (let i1 = 0; i1 < p1; i1++) {
        for (let i2 = 0; i2 < p2; i2++) {
          for (let i3 = 0; i3 < p3; i3++) {
            const sub = swapHw ? (i1 * p3 + i3) * p2 + i2 : (i1 * p2 + i2) * p3 + i3;
            const ch = k * group + sub;
            for (let z = 0; z < d; z++) {
              for (let y = 0; y < h; y++) {
                for (let t = 0; t < w; t++) {
                  const lo = (((n * c * group + ch) * d + z) * h + y) * w + t;
                  const hi = (((n * c + k) * big[0] + z * p1 + i1) * big[1] + y * p2 + i2) * big[2] + t * p3 + i3;
                  if (inverse) out[hi] = x.data[lo]!;
                  else out[lo] = x.data[hi]!;
                }
              }
            }
          }
        }
      }
    }
  }
  const shape = inverse ? [b, c, big[0], big[1], big[2]] : [b, c * group, d, h, w];
  return hostTensor(shape, out);
}

export function spaceToDepth(x: HostTensor, factors: Factors): HostTensor {
  return depthShuffle(x, factors, false, false);
}

export function depthToSpace(x: HostTensor, factors: Factors): HostTensor {
  return depthShuffle(x, factors, true, false);
}

/** The VAE patchify: [B, C, F, H, W] -> [B, C·p², F, H/p, W/p], channel = c·p² + wOffset·p + hOffset. */
export function patchifyVideo(x: HostTensor, patch: number): HostTensor {
  return depthShuffle(x, [1, patch, patch], false, true);
}

export function unpatchifyVideo(x: HostTensor, patch: number): HostTensor {
  return depthShuffle(x, [1, patch, patch], true, true);
}

/** Mean over groups of `group` consecutive channels: [B, C·g, ...] -> [B, C, ...]. */
export function groupMeanChannels(x: HostTensor, group: number): HostTensor {
  const [b, cg] = x.shape as [number, number];
  const inner = x.data.length / (b * cg);
  const c = cg / group;
  const out = new Float32Array(b * c * inner);
  for (let n = 0; n < b; n++) {
    for (let k = 0; k < c; k++) {
      for (let i = 0; i < inner; i++) {
        let s = 0;
        for (let g = 0; g < group; g++) s += x.data[(n * cg + k * group + g) * inner + i]!;
        out[(n * c + k) * inner + i] = s / group;
      }
    }
  }
  return hostTensor([b, c, ...x.shape.slice(2)], out);
}

/** Frames [from, to) of [B, C, D, H, W]. */
export function sliceFrames(x: HostTensor, from: number, to: number): HostTensor {
  const [b, c, d, h, w] = x.shape as [number, number, number, number, number];
  const plane = h * w;
  const nd = to - from;
  const out = new Float32Array(b * c * nd * plane);
  for (let bc = 0; bc < b * c; bc++) {
    out.set(x.data.subarray((bc * d + from) * plane, (bc * d + to) * plane), bc * nd * plane);
  }
  return hostTensor([b, c, nd, h, w], out);
}
