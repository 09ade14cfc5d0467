import { cpuTensor, gather, type Tensor } from "../tensor.js";

/**
 * The CPU device's 3-D convolution kernels (forward, weight gradient, input gradient), f64 throughout:
 * the input is zero-padded once, so every tap of every output position is a read at a precomputed
 * offset with no bounds test, and the sums run in register tiles (4 output channels × 2 positions
 * forward, 2 channels × 4 taps for dW) over flat typed arrays, nothing allocated per element. The input
 * gradient is the same correlation over dY spread by the stride, with the weight flipped. Same maths as
 * `reference.ts`'s `conv3d`/`conv3dGrad` (the tests compare with both it and the GPU), about 1 GMAC/s.
 */

export type Triple<T> = [T, T, T];

/** Everything the kernels of either device need to know about one convolution (`ops/conv.ts` builds it). */
export interface ConvGeometry {
  nb: number;
  ci: number;
  co: number;
  input: Triple<number>;
  kernel: Triple<number>;
  output: Triple<number>;
  stride: Triple<number>;
  dilation: Triple<number>;
  pad: Triple<[number, number]>;
}

const volume = (t: Triple<number>): number => t[0] * t[1] * t[2];

/**
 * Copies `planes` planes of `src` (each [n0, n1, n2], row-major) into a zeroed [l0, l1, l2] per plane,
 * source index o landing at o·step + shift per dim (dropped when outside). step 1 and shift = padding
 * zero-pads an input; step = stride spreads dY for the transposed convolution.
 */
function spread(
  src: Float64Array,
  planes: number,
  n: Triple<number>,
  l: Triple<number>,
  step: Triple<number>,
  shift: Triple<number>,
): Float64Array {
  const dst = new Float64Array(planes * volume(l));
  const range = (d: number): [number, number] => [
    Math.max(0, Math.ceil(-shift[d]! / step[d]!)),
    Math.min(n[d]!, Math.floor((l[d]! - 1 - shift[d]!) / step[d]!) + 1),
  ];
  const [t0, t1] = range(0);
  const [h0, h1] = range(1);
  const [w0, w1] = range(2);
  for (let p = 0; p < planes; p++)
    for (let t = t0; t < t1; t++)
      for (let h = h0; h < h1; h++) {
        const s = ((p * n[0] + t) * n[1] + h) * n[2];
        const d = ((p * l[0] + t * step[0] + shift[0]) * l[1] + h * step[1] + shift[1]) * l[2] + shift[2];
        const sw = step[2];
        for (let w = w0; w < w1; w++) dst[d + w * sw] = src[s + w]!;
      }
  return dst;
}

/**
 * A correlation over an already padded input, the CPU device's one convolution loop. xp holds nb × `inC`
 * planes of dims `pd`; tap k of the flattened (input channel, kt, kh, kw) axis reads xp at a position's
 * base + off[k]. Output position (t, h, q) has base (t·s0·pd1 + h·s1)·pd2 + q·s2.
 */
interface Correlation {
  nb: number;
  inC: number;
  pd: Triple<number>;
  out: Triple<number>;
  stride: Triple<number>;
  /** Per tap (input channel, kt, kh, kw) flattened: its offset from a position's base. */
  off: Int32Array;
}

function correlation(inC: number, pd: Triple<number>, kernel: Triple<number>, dilation: Triple<number>): Int32Array {
  const [kt, kh, kw] = kernel;
  const off = new Int32Array(inC * kt * kh * kw);
  let k = 0;
  for (let c = 0; c < inC; c++)
    for (let a = 0; a < kt; a++)
      for (let e = 0; e < kh; e++)
        for (let f = 0; f < kw; f++)
          off[k++] = ((c * pd[0] + a * dilation[0]) * pd[1] + e * dilation[1]) * pd[2] + f * dilation[2];
  return off;
}

/**
 * y[b, o, pos] += Σ_k w[o, k] · xp[b, base(pos) + off[k]] for `outC` output channels (w: [outC, K]):
 * register tiles of 4 output channels × 2 positions (one x load feeds four products).
 */
function correlate(c: Correlation, xp: Float64Array, w: Float64Array, outC: number, y: Float64Array): void {
  const { off, pd, out, stride } = c;
  const K = off.length;
  const [to, ho, wo] = out;
  const yPlane = volume(out);
  const xBatch = c.inC * volume(pd);
  const rowT = stride[0] * pd[1] * pd[2];
  const rowH = stride[1] * pd[2];
  const s2 = stride[2];
  const wb = new Float64Array(K * 4);
  for (let o0 = 0; o0 < outC; o0 += 4) {
    // The block's weights interleaved [k][4]; missing channels (outC not a multiple of 4) are zeros.
    wb.fill(0);
    for (let j = 0; j < 4 && o0 + j < outC; j++) for (let k = 0; k < K; k++) wb[k * 4 + j] = w[(o0 + j) * K + k]!;
    const live = Math.min(4, outC - o0);
    for (let b = 0; b < c.nb; b++) {
      const xb = b * xBatch;
      const yb = (b * outC + o0) * yPlane;
      for (let t = 0; t < to; t++)
        for (let h = 0; h < ho; h++) {
          const rb = xb + t * rowT + h * rowH;
          const yr = yb + (t * ho + h) * wo;
          let q = 0;
          for (; q + 1 < wo; q += 2) {
            const p = rb + q * s2;
            let a0 = 0;
            let a1 = 0;
            let a2 = 0;
            let a3 = 0;
            let b0 = 0;
            let b1 = 0;
            let b2 = 0;
            let b3 = 0;
            for (let k = 0; k < K; k++) {
              const i = p + off[k]!;
              const u = xp[i]!;
              const v = xp[i + s2]!;
              const m = k * 4;
              const w0 = wb[m]!;
              const w1 = wb[m + 1]!;
              const w2 = wb[m + 2]!;
              const w3 = wb[m + 3]!;
              a0 += w0 * u;
              a1 += w1 * u;
              a2 += w2 * u;
              a3 += w3 * u;
              b0 += w0 * v;
              b1 += w1 * v;
              b2 += w2 * v;
              b3 += w3 * v;
            }
            store(y, yr + q, yPlane, live, a0, a1, a2, a3);
            store(y, yr + q + 1, yPlane, live, b0, b1, b2, b3);
          }
          if (q < wo) {
            const p = rb + q * s2;
            let a0 = 0;
            let a1 = 0;
            let a2 = 0;
            let a3 = 0;
            for (let k = 0; k < K; k++) {
              const u = xp[p + off[k]!]!;
              const m = k * 4;
              a0 += wb[m]! * u;
              a1 += wb[m + 1]! * u;
              a2 += wb[m + 2]! * u;
              a3 += wb[m + 3]! * u;
            }
            store(y, yr + q, yPlane, live, a0, a1, a2, a3);
          }
        }
    }
  }
}

/** Adds four channels' sums (`plane` apart from index `at`) into y, the first `live` of them. */
function store(
  y: Float64Array,
  at: number,
  plane: number,
  live: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): void {
  y[at] = y[at]! + a0;
  if (live > 1) y[at + plane] = y[at + plane]! + a1;
  if (live > 2) y[at + 2 * plane] = y[at + 2 * plane]! + a2;
  if (live > 3) y[at + 3 * plane] = y[at + 3 * plane]! + a3;
}

/**
 * dW[o, k] = Σ_b Σ_pos dY[b, o, pos] · xp[b, base(pos) + off[k]] (dW: [outC, K]): tiles of 2 output
 * channels × 4 taps (each dY value feeds four products, each x value two).
 */
function correlateGrad(c: Correlation, xp: Float64Array, dy: Float64Array, outC: number): Float64Array {
  const { off, pd, out, stride } = c;
  const K = off.length;
  const dw = new Float64Array(outC * K);
  const [to, ho, wo] = out;
  const yPlane = volume(out);
  const xBatch = c.inC * volume(pd);
  const rowT = stride[0] * pd[1] * pd[2];
  const rowH = stride[1] * pd[2];
  const s2 = stride[2];
  for (let o0 = 0; o0 < outC; o0 += 2) {
    // An odd last channel runs as a pair with itself (the duplicate is not stored).
    const o1 = Math.min(o0 + 1, outC - 1);
    for (let k0 = 0; k0 < K; k0 += 4) {
      // Taps past K read tap K − 1 again (not stored).
      const f0 = off[k0]!;
      const f1 = off[Math.min(k0 + 1, K - 1)]!;
      const f2 = off[Math.min(k0 + 2, K - 1)]!;
      const f3 = off[Math.min(k0 + 3, K - 1)]!;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let b = 0; b < c.nb; b++) {
        const xb = b * xBatch;
        const y0 = (b * outC + o0) * yPlane;
        const y1 = (b * outC + o1) * yPlane;
        for (let t = 0; t < to; t++)
          for (let h = 0; h < ho; h++) {
            const rb = xb + t * rowT + h * rowH;
            const yr = (t * ho + h) * wo;
            for (let q = 0; q < wo; q++) {
              const p = rb + q * s2;
              const g0 = dy[y0 + yr + q]!;
              const g1 = dy[y1 + yr + q]!;
              const x0 = xp[p + f0]!;
              const x1 = xp[p + f1]!;
              const x2 = xp[p + f2]!;
              const x3 = xp[p + f3]!;
              a0 += g0 * x0;
              a1 += g0 * x1;
              a2 += g0 * x2;
              a3 += g0 * x3;
              b0 += g1 * x0;
              b1 += g1 * x1;
              b2 += g1 * x2;
              b3 += g1 * x3;
            }
          }
      }
      const sums = [a0, a1, a2, a3, b0, b1, b2, b3];
      for (let j = 0; j < 4 && k0 + j < K; j++) {
        dw[o0 * K + k0 + j] = sums[j]!;
        if (o1 !== o0) dw[o1 * K + k0 + j] = sums[4 + j]!;
      }
    }
  }
  return dw;
}

/** The padded input of a convolution: x zero-padded by the convolution's padding, and its correlation. */
function paddedInput(x: Tensor, g: ConvGeometry): [Float64Array, Correlation] {
  const pd = g.input.map((n, d) => n + g.pad[d]![0] + g.pad[d]![1]) as Triple<number>;
  const before = g.pad.map((p) => p[0]) as Triple<number>;
  const xp = spread(gather(x), g.nb * g.ci, g.input, pd, [1, 1, 1], before);
  const off = correlation(g.ci, pd, g.kernel, g.dilation);
  return [xp, { nb: g.nb, inC: g.ci, pd, out: g.output, stride: g.stride, off }];
}

/** conv3d forward on the CPU device: y [nb, co, ...output] f32 (bias per output channel when given). */
export function cpuConvForward(x: Tensor, weight: Tensor, bias: Tensor | undefined, g: ConvGeometry): Tensor {
  const per = volume(g.output);
  const y = new Float64Array(g.nb * g.co * per);
  if (bias) {
    const bv = gather(bias);
    for (let p = 0; p < g.nb * g.co; p++) y.fill(bv[p % g.co]!, p * per, (p + 1) * per);
  }
  const [xp, c] = paddedInput(x, g);
  correlate(c, xp, gather(weight), g.co, y);
  return cpuTensor(y, [g.nb, g.co, ...g.output], "f32");
}

/** dW [co, ci, ...kernel] f32 = Σ over batch and output positions of dY · x at each tap. */
export function cpuConvWeightGrad(dy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  const [xp, c] = paddedInput(x, g);
  return cpuTensor(correlateGrad(c, xp, gather(dy), g.co), [g.co, g.ci, ...g.kernel], "f32");
}

/**
 * dX (shape `inputShape`, f32): the transposed convolution, run as a stride-1 correlation of dY spread
 * by the stride (zeros between) and padded by (k − 1)·dilation − padBefore, with the weight flipped in
 * every tap dim and its channel axes swapped.
 */
export function cpuConvInputGrad(dy: Tensor, weight: Tensor, inputShape: readonly number[], g: ConvGeometry): Tensor {
  const [kt, kh, kw] = g.kernel;
  const taps = volume(g.kernel);
  const reach = g.kernel.map((k, d) => (k - 1) * g.dilation[d]!) as Triple<number>;
  const pd = g.input.map((n, d) => n + reach[d]!) as Triple<number>;
  const shift = reach.map((r, d) => r - g.pad[d]![0]) as Triple<number>;
  const zp = spread(gather(dy), g.nb * g.co, g.output, pd, g.stride, shift);
  const w = gather(weight);
  const wt = new Float64Array(w.length);
  // wt[ci, (co, a', e', f')] = w[co, ci, kt−1−a', kh−1−e', kw−1−f'].
  for (let co = 0; co < g.co; co++)
    for (let ci = 0; ci < g.ci; ci++) {
      const src = (co * g.ci + ci) * taps;
      const dst = (ci * g.co + co) * taps;
      for (let a = 0; a < kt; a++)
        for (let e = 0; e < kh; e++)
          for (let f = 0; f < kw; f++)
            wt[dst + (a * kh + e) * kw + f] = w[src + ((kt - 1 - a) * kh + (kh - 1 - e)) * kw + (kw - 1 - f)]!;
    }
  const off = correlation(g.co, pd, g.kernel, g.dilation);
  const dx = new Float64Array(g.nb * g.ci * volume(g.input));
  correlate({ nb: g.nb, inC: g.co, pd, out: g.input, stride: [1, 1, 1], off }, zp, wt, g.ci, dx);
  return cpuTensor(dx, inputShape, "f32");
}
