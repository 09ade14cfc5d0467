/**
 * Plain TypeScript reference implementations (f64 throughout) that the GPU kernels are tested against.
 * Arrays are row-major with explicit shapes; nothing here is fast.
 */
import type { HostTensor } from "../host-tensor.js";

/** A float64 host tensor: what the reference kernels compute on. */
export type Nd = HostTensor<Float64Array>;

export function nd(data: ArrayLike<number>, shape: readonly number[]): Nd {
  return { data: Float64Array.from(data), shape: [...shape] };
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return c;
}

export function broadcast(...shapes: Array<readonly number[]>): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      if (s[i] !== 1) out[j] = s[i]!;
    }
  }
  return out;
}

/** Value of `a` at output coordinates `c` under broadcasting. */
function at(a: Nd, c: readonly number[], st: readonly number[]): number {
  const lead = c.length - a.shape.length;
  let o = 0;
  for (let d = 0; d < a.shape.length; d++) if (a.shape[d] !== 1) o += c[d + lead]! * st[d]!;
  return a.data[o]!;
}

/** Elementwise function over broadcast inputs. */
export function zip(inputs: Nd[], f: (...v: number[]) => number): Nd {
  const shape = broadcast(...inputs.map((a) => a.shape));
  const n = numel(shape);
  const st = inputs.map((a) => stridesOf(a.shape));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = unravel(i, shape);
    out[i] = f(...inputs.map((a, k) => at(a, c, st[k]!)));
  }
  return { data: out, shape };
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
export const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
export const silu = (x: number): number => x * sigmoid(x);

/** Reduces `axes` (kept as size 1) with `f` starting from `init`. */
export function reduce(a: Nd, axes: readonly number[], f: (acc: number, v: number) => number, init: number): Nd {
  const shape = a.shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const out = new Float64Array(numel(shape)).fill(init);
  const st = stridesOf(shape);
  for (let i = 0; i < a.data.length; i++) {
    const c = unravel(i, a.shape);
    let o = 0;
    for (let d = 0; d < c.length; d++) if (!axes.includes(d)) o += c[d]! * st[d]!;
    out[o] = f(out[o]!, a.data[i]!);
  }
  return { data: out, shape };
}

export function sum(a: Nd, axes: readonly number[]): Nd {
  return reduce(a, axes, (s, v) => s + v, 0);
}

export function mean(a: Nd, axes: readonly number[]): Nd {
  const s = sum(a, axes);
  const n = axes.reduce((p, d) => p * a.shape[d]!, 1);
  return { data: s.data.map((v) => v / n), shape: s.shape };
}

export function max(a: Nd, axes: readonly number[]): Nd {
  return reduce(a, axes, (m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY);
}

/** Batched matmul with broadcast batch dims: [..., M, K]·[..., K, N]. */
export function matmul(a: Nd, b: Nd): Nd {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.shape.length - 1]!;
  const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = numel(batch);
  const out = new Float64Array(nb * m * n);
  const aB = a.shape.slice(0, -2);
  const bB = b.shape.slice(0, -2);
  const idx = (shape: number[], c: number[]): number => {
    let o = 0;
    const lead = c.length - shape.length;
    for (let d = 0; d < shape.length; d++) o = o * shape[d]! + (shape[d] === 1 ? 0 : c[d + lead]!);
    return o;
  };
  for (let z = 0; z < nb; z++) {
    const c = unravel(z, batch);
    const ao = idx(aB, c) * m * k;
    const bo = idx(bB, c) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a.data[ao + i * k + p]! * b.data[bo + p * n + j]!;
        out[z * m * n + i * n + j] = s;
      }
    }
  }
  return { data: out, shape: [...batch, m, n] };
}

export function permute(a: Nd, dims: readonly number[]): Nd {
  const shape = dims.map((d) => a.shape[d]!);
  const st = stridesOf(a.shape);
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = unravel(i, shape);
    let o = 0;
    dims.forEach((d, k) => {
      o += c[k]! * st[d]!;
    });
    out[i] = a.data[o]!;
  }
  return { data: out, shape };
}

export function transpose(a: Nd): Nd {
  const dims = [...a.shape.keys()];
  const r = dims.length;
  [dims[r - 2], dims[r - 1]] = [dims[r - 1]!, dims[r - 2]!];
  return permute(a, dims);
}

/** Applies `f` to every row of the last axis. */
export function rows(a: Nd, f: (row: Float64Array) => Float64Array): Nd {
  const L = a.shape[a.shape.length - 1]!;
  const out = new Float64Array(a.data.length);
  for (let r = 0; r < a.data.length / L; r++) out.set(f(a.data.subarray(r * L, r * L + L)), r * L);
  return { data: out, shape: [...a.shape] };
}

export function softmax(a: Nd): Nd {
  return rows(a, (row) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((p, v) => p + v, 0);
    return e.map((v) => v / s);
  });
}

export function rmsNorm(a: Nd, w: Nd | undefined, eps: number, onePlus = false): Nd {
  return rows(a, (row) => {
    const ms = row.reduce((p, v) => p + v * v, 0) / row.length;
    const r = 1 / Math.sqrt(ms + eps);
    return row.map((v, j) => v * r * (w ? (onePlus ? 1 + w.data[j]! : w.data[j]!) : 1));
  });
}

export function layerNorm(a: Nd, eps: number): Nd {
  return rows(a, (row) => {
    const mu = row.reduce((p, v) => p + v, 0) / row.length;
    const v = row.reduce((p, x) => p + (x - mu) ** 2, 0) / row.length;
    const r = 1 / Math.sqrt(v + eps);
    return row.map((x) => (x - mu) * r);
  });
}

export function slice(a: Nd, dim: number, start: number, end: number, step = 1): Nd {
  const shape = [...a.shape];
  shape[dim] = Math.ceil((end - start) / step);
  const st = stridesOf(a.shape);
  const out = new Float64Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    const c = unravel(i, shape);
    c[dim] = start + c[dim]! * step;
    out[i] = a.data[c.reduce((o, v, d) => o + v * st[d]!, 0)]!;
  }
  return { data: out, shape };
}

export function concat(xs: Nd[], dim: number): Nd {
  const shape = [...xs[0]!.shape];
  shape[dim] = xs.reduce((s, x) => s + x.shape[dim]!, 0);
  const out = new Float64Array(numel(shape));
  const st = stridesOf(shape);
  let base = 0;
  for (const x of xs) {
    for (let i = 0; i < x.data.length; i++) {
      const c = unravel(i, x.shape);
      c[dim] = c[dim]! + base;
      out[c.reduce((o, v, d) => o + v * st[d]!, 0)] = x.data[i]!;
    }
    base += x.shape[dim]!;
  }
  return { data: out, shape };
}

/**
 * Central finite-difference gradient of the scalar `f` at `inputs[which]` (f64, so accurate to
 * ~1e-8 for smooth functions).
 */
export function numericGrad(f: (inputs: Nd[]) => number, inputs: Nd[], which: number, h = 1e-5): Float64Array {
  const x = inputs[which]!;
  const g = new Float64Array(x.data.length);
  for (let i = 0; i < g.length; i++) {
    const v = x.data[i]!;
    x.data[i] = v + h;
    const up = f(inputs);
    x.data[i] = v - h;
    const down = f(inputs);
    x.data[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Σ y·w, the scalar the gradient checks differentiate (w fixed random weights). */
export function dot(y: Nd, w: Nd): number {
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i]! * w.data[i]!;
  return s;
}

/** softmax(q·kᵀ·scale + mask)·v for q [B,H,Lq,D], k/v [B,H,Lk,D], mask broadcast to [B,H,Lq,Lk]. */
export function attention(q: Nd, k: Nd, v: Nd, scale: number, mask?: Nd): Nd {
  let s = matmul(q, transpose(k));
  s = { data: s.data.map((x) => x * scale), shape: s.shape };
  if (mask) s = zip([s, mask], (x, m) => x + m);
  const p = softmax(s);
  return matmul(p, v);
}

/**
 * Analytic attention gradients (dQ, dK, dV) for the loss Σ out·dout, in plain f64 loops:
 * P = softmax(S), dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − rowsum(dP∘P)), dQ = s·dS·K, dK = s·dSᵀ·Q.
 */
export function attentionGrad(q: Nd, k: Nd, v: Nd, scale: number, mask: Nd | undefined, dout: Nd): [Nd, Nd, Nd] {
  const [b, h, lq, d] = q.shape as [number, number, number, number];
  const lk = k.shape[2]!;
  let s = matmul(q, transpose(k));
  s = { data: s.data.map((x) => x * scale), shape: s.shape };
  if (mask) s = zip([s, mask], (x, m) => x + m);
  const p = softmax(s).data;
  const dq = new Float64Array(q.data.length);
  const dk = new Float64Array(k.data.length);
  const dv = new Float64Array(v.data.length);
  for (let z = 0; z < b * h; z++) {
    const qo = z * lq * d;
    const ko = z * lk * d;
    const po = z * lq * lk;
    for (let i = 0; i < lq; i++) {
      const dp = new Float64Array(lk);
      let rowDot = 0;
      for (let j = 0; j < lk; j++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += dout.data[qo + i * d + c]! * v.data[ko + j * d + c]!;
        dp[j] = acc;
        rowDot += acc * p[po + i * lk + j]!;
      }
      for (let j = 0; j < lk; j++) {
        const pij = p[po + i * lk + j]!;
        const ds = pij * (dp[j]! - rowDot) * scale;
        for (let c = 0; c < d; c++) {
          dv[ko + j * d + c]! += pij * dout.data[qo + i * d + c]!;
          dq[qo + i * d + c]! += ds * k.data[ko + j * d + c]!;
          dk[ko + j * d + c]! += ds * q.data[qo + i * d + c]!;
        }
      }
    }
  }
  return [
    { data: dq, shape: [...q.shape] },
    { data: dk, shape: [...k.shape] },
    { data: dv, shape: [...v.shape] },
  ];
}

/** RoPE reference: x [..., dh], cos/sin broadcast to [..., dh/2]. */
export function rope(x: Nd, cos: Nd, sin: Nd, layout: "split" | "interleaved"): Nd {
  const dh = x.shape[x.shape.length - 1]!;
  const half = dh / 2;
  const table = [...x.shape.slice(0, -1), half];
  const zeros = { data: new Float64Array(numel(table)), shape: table };
  const c = zip([cos, zeros], (a) => a).data;
  const s = zip([sin, zeros], (a) => a).data;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / dh; r++) {
    for (let i = 0; i < half; i++) {
      const [a, b] = layout === "split" ? [i, i + half] : [2 * i, 2 * i + 1];
      const x1 = x.data[r * dh + a]!;
      const x2 = x.data[r * dh + b]!;
      const cv = c[r * half + i]!;
      const sv = s[r * half + i]!;
      out[r * dh + a] = x1 * cv - x2 * sv;
      out[r * dh + b] = x2 * cv + x1 * sv;
    }
  }
  return { data: out, shape: [...x.shape] };
}

function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The GPU generator's uniform draw for element e (bit-exact integer part). */
export function randUnit(e: number, seed: number, stream: number, lane = 0): number {
  const r = pcg((pcg((pcg((e ^ stream) >>> 0) + seed) >>> 0) ^ Math.imul(lane, 0x9e3779b9)) >>> 0);
  // Rounded like the shader: (f32(r >> 8) + 0.5) in f32, then exactly scaled by 2^-24.
  return Math.fround((r >>> 8) + 0.5) / 16777216;
}

export function randNormal(e: number, seed: number, stream: number): number {
  return Math.sqrt(-2 * Math.log(randUnit(e, seed, stream, 0))) * Math.cos(2 * Math.PI * randUnit(e, seed, stream, 1));
}

/** Output shape [B, Co, T', H', W'] of a 3-D convolution. */
function convShape(x: Nd, w: Nd, stride: number[], pad: Array<[number, number]>, dil: number[]): number[] {
  const size = (d: number): number =>
    Math.floor((x.shape[d + 2]! + pad[d]![0] + pad[d]![1] - dil[d]! * (w.shape[d + 2]! - 1) - 1) / stride[d]!) + 1;
  return [x.shape[0]!, w.shape[0]!, size(0), size(1), size(2)];
}

/**
 * Visits every (output element, input element, weight element) triple of a direct 3-D convolution with zero
 * padding [before, after] per dim: `visit(o, xi, wj)` with flat indices, padding taps skipped.
 */
function convTaps(
  x: Nd,
  w: Nd,
  stride: number[],
  pad: Array<[number, number]>,
  dil: number[],
  visit: (o: number, xi: number, wj: number) => void,
): void {
  const [, ci, ti, hi, wi] = x.shape as [number, number, number, number, number];
  const [, , kt, kh, kw] = w.shape as [number, number, number, number, number];
  const [nb, co, to, ho, wo] = convShape(x, w, stride, pad, dil) as [number, number, number, number, number];
  let o = 0;
  for (let b = 0; b < nb; b++)
    for (let c = 0; c < co; c++)
      for (let t = 0; t < to; t++)
        for (let h = 0; h < ho; h++)
          for (let q = 0; q < wo; q++, o++)
            for (let i = 0; i < ci; i++)
              for (let a = 0; a < kt; a++)
                for (let e = 0; e < kh; e++)
                  for (let f = 0; f < kw; f++) {
                    const it = t * stride[0]! + a * dil[0]! - pad[0]![0];
                    const ih = h * stride[1]! + e * dil[1]! - pad[1]![0];
                    const iw = q * stride[2]! + f * dil[2]! - pad[2]![0];
                    if (it < 0 || it >= ti || ih < 0 || ih >= hi || iw < 0 || iw >= wi) continue;
                    visit(
                      o,
                      (((b * ci + i) * ti + it) * hi + ih) * wi + iw,
                      (((c * ci + i) * kt + a) * kh + e) * kw + f,
                    );
                  }
}

/** Direct 3-D convolution (zero padding [before, after] per dim). */
export function conv3d(x: Nd, w: Nd, stride: number[], pad: Array<[number, number]>, dil: number[], bias?: Nd): Nd {
  const shape = convShape(x, w, stride, pad, dil);
  const per = shape[2]! * shape[3]! * shape[4]!;
  const out = new Float64Array(shape.reduce((p, d) => p * d, 1));
  if (bias) for (let o = 0; o < out.length; o++) out[o] = bias.data[Math.floor(o / per) % shape[1]!]!;
  convTaps(x, w, stride, pad, dil, (o, xi, wj) => {
    out[o] = out[o]! + x.data[xi]! * w.data[wj]!;
  });
  return { data: out, shape };
}

/**
 * Analytic gradients of Σ dy·(conv3d(x, W) + bias): [dx, dW, dbias], each tap's contribution sent back to
 * the input element and weight it came from (checked against finite differences in the tests).
 */
export function conv3dGrad(
  x: Nd,
  w: Nd,
  stride: number[],
  pad: Array<[number, number]>,
  dil: number[],
  dy: Nd,
): [Nd, Nd, Nd] {
  const dx = new Float64Array(x.data.length);
  const dw = new Float64Array(w.data.length);
  const co = w.shape[0]!;
  const db = new Float64Array(co);
  convTaps(x, w, stride, pad, dil, (o, xi, wj) => {
    dx[xi] = dx[xi]! + dy.data[o]! * w.data[wj]!;
    dw[wj] = dw[wj]! + dy.data[o]! * x.data[xi]!;
  });
  const per = dy.shape[2]! * dy.shape[3]! * dy.shape[4]!;
  dy.data.forEach((g, o) => {
    const c = Math.floor(o / per) % co;
    db[c] = db[c]! + g;
  });
  return [
    { data: dx, shape: [...x.shape] },
    { data: dw, shape: [...w.shape] },
    { data: db, shape: [co] },
  ];
}
