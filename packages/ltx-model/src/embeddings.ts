/**
 * Sampler-independent embedding tables: sinusoidal timestep features and RoPE cos/sin.
 * Both are computed on the CPU, rounding to float32 exactly where upstream's float32 tensors round:
 * RoPE angles reach ~15700 rad, where one float32 ulp of the angle is ~1e-3, so the argument must
 * be the same float32 number upstream feeds cos/sin. GPU sin/cos at such arguments are not accurate
 * enough either, hence tables built here and uploaded.
 */

const f32 = Math.fround;

/** Width of the sinusoidal timestep features (upstream `Timesteps(num_channels=256)`). */
export const TIMESTEP_FEATURES = 256;

/**
 * `get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0)`: `[N, 256]` laid
 * out `[cos | sin]`, frequency k = exp(−ln(10000)·k/128). `timesteps` are already scaled (σ·1000).
 */
export function timestepSinusoid(
  timesteps: ArrayLike<number>,
  dim = TIMESTEP_FEATURES,
  maxPeriod = 10000,
): Float32Array {
  const half = Math.floor(dim / 2);
  const freqs = new Float32Array(half);
  const negLog = f32(-Math.log(maxPeriod));
  for (let k = 0; k < half; k++) freqs[k] = f32(Math.exp(f32(f32(negLog * k) / half)));
  const out = new Float32Array(timesteps.length * dim);
  for (let i = 0; i < timesteps.length; i++) {
    const t = f32(timesteps[i]!);
    for (let k = 0; k < half; k++) {
      const arg = f32(t * freqs[k]!);
      out[i * dim + k] = f32(Math.cos(arg));
      out[i * dim + half + k] = f32(Math.sin(arg));
    }
  }
  return out;
}

/** Scales raw timesteps (σ per token) by a multiplier in float32, as `timestep * multiplier` does. */
export function scaleTimesteps(timesteps: ArrayLike<number>, multiplier: number): Float32Array {
  const out = new Float32Array(timesteps.length);
  for (let i = 0; i < timesteps.length; i++) out[i] = f32(f32(timesteps[i]!) * multiplier);
  return out;
}

/**
 * RoPE base frequencies θ^linspace(0,1,n)·π/2 for `nPosDims` position axes over width `dim`
 * (n = dim // (2·nPosDims)); float64 grid (`frequencies_precision: float64`) or float32 as upstream.
 */
export function ropeFrequencyGrid(
  theta: number,
  nPosDims: number,
  dim: number,
  doublePrecision: boolean,
): Float32Array {
  const n = Math.floor(dim / (2 * nPosDims));
  const out = new Float32Array(n);
  if (doublePrecision) {
    // numpy: linspace(0, 1, n) = i·(1/(n−1)) with the last value exactly 1, power, ·π/2, then float32.
    const step = n > 1 ? 1 / (n - 1) : 0;
    for (let i = 0; i < n; i++) {
      const x = n > 1 && i === n - 1 ? 1 : i * step;
      out[i] = f32((theta ** x * Math.PI) / 2);
    }
    return out;
  }
  // torch.linspace in float32 (fills from both ends), pow in float32, then ·π/2 in float32.
  const step = n > 1 ? f32(1 / (n - 1)) : 0;
  const halfway = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    const x = i < halfway ? f32(step * i) : f32(1 - f32(step * (n - i - 1)));
    out[i] = f32(f32(f32(f32(theta) ** x) * f32(Math.PI)) / 2);
  }
  return out;
}

/** cos/sin tables for split RoPE: each `[T, dim/2]`; head h uses columns [h·dh/2, (h+1)·dh/2). */
export interface RopeTables {
  tokens: number;
  /** dim / 2. */
  width: number;
  cos: Float32Array;
  sin: Float32Array;
}

/**
 * Split-RoPE tables (`precompute_freqs_cis` with `LTXRopeType.SPLIT`) from `[nPos, T, 2]` position
 * bounds. Angles `f_k·(2·pos/max_pos − 1)` interleave axes (slot k·nPos + a); leading pad slots
 * (cos 1, sin 0) fill the width up to dim/2.
 */
export function splitRopeTables(
  positions: Float32Array,
  nPos: number,
  options: { dim: number; theta: number; maxPos: readonly number[]; useMiddle: boolean; doublePrecision: boolean },
): RopeTables {
  const tokens = positions.length / (nPos * 2);
  const grid = ropeFrequencyGrid(options.theta, nPos, options.dim, options.doublePrecision);
  const n = grid.length;
  const width = Math.floor(options.dim / 2);
  const pad = width - n * nPos;
  const cos = new Float32Array(tokens * width);
  const sin = new Float32Array(tokens * width);
  const frac = new Float32Array(nPos);
  for (let t = 0; t < tokens; t++) {
    for (let a = 0; a < nPos; a++) {
      const start = positions[(a * tokens + t) * 2]!;
      const end = positions[(a * tokens + t) * 2 + 1]!;
      const p = options.useMiddle ? f32(f32(start + end) / 2) : start;
      frac[a] = f32(f32(f32(p / options.maxPos[a]!) * 2) - 1);
    }
    const row = t * width;
    for (let i = 0; i < pad; i++) cos[row + i] = 1;
    for (let k = 0; k < n; k++) {
      for (let a = 0; a < nPos; a++) {
        const angle = f32(grid[k]! * frac[a]!);
        const slot = row + pad + k * nPos + a;
        cos[slot] = f32(Math.cos(angle));
        sin[slot] = f32(Math.sin(angle));
      }
    }
  }
  return { tokens, width, cos, sin };
}

/**
 * A stream's timesteps for the AdaLN MLPs, which then run once per distinct timestep (a2v has two: σ for the noisy
 * tokens, 0 for the conditioning frame) instead of once per token. `oneHot` (`[T, U]`) hands each token its row when
 * the values are used: exact, since a token's row is the same product either way. One distinct timestep: its row
 * broadcasts over the tokens (`oneHot` null). More than `maxDistinct`: every token keeps its own row (`distinct` is
 * the timesteps themselves, `oneHot` null), since the spread would cost more than it saves.
 */
export function distinctTimesteps(
  timesteps: Float32Array,
  maxDistinct = 16,
): { distinct: Float32Array; oneHot: Float32Array | null } {
  const distinct = [...new Set(timesteps)];
  if (distinct.length === 1) return { distinct: Float32Array.from(distinct), oneHot: null };
  if (distinct.length > maxDistinct) return { distinct: timesteps, oneHot: null };
  const column = new Map(distinct.map((t, j) => [t, j]));
  const oneHot = new Float32Array(timesteps.length * distinct.length);
  timesteps.forEach((t, i) => {
    oneHot[i * distinct.length + column.get(t)!] = 1;
  });
  return { distinct: Float32Array.from(distinct), oneHot };
}
