import { randNormal, randUnit } from "../cpu/reference.js";
import type { DType } from "../dtype.js";
import type { Tensor } from "../tensor.js";
import { map } from "./elementwise.js";

/**
 * Counter-based generator: element e of a draw with (seed, stream) is a pure function of those three
 * numbers, so results are reproducible across runs and devices, and no state lives on the GPU.
 */
const RNG = `fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn rng_u32(counter: u32, lane: u32) -> u32 { return pcg(pcg(pcg(counter ^ U(1)) + U(0)) ^ (lane * 0x9e3779b9u)); }
fn rng_unit(counter: u32, lane: u32) -> f32 { return (f32(rng_u32(counter, lane) >> 8u) + 0.5) * (1.0 / 16777216.0); }`;

function seedWords(seed: number, stream: number): Uint32Array {
  return Uint32Array.from([seed >>> 0, stream >>> 0]);
}

/** Uniform samples in (0, 1). `stream` selects an independent sequence for the same seed. */
export function rand(shape: readonly number[], seed: number, stream = 0, dtype: DType = "f32"): Tensor {
  return map("rng_unit(e, 0u)", [], dtype, shape, {
    uniform: seedWords(seed, stream),
    prelude: RNG,
    cpu: (_, e) => randUnit(e, seed >>> 0, stream >>> 0),
  });
}

/** Standard normal samples (Box–Muller over two uniform lanes). */
export function randn(shape: readonly number[], seed: number, stream = 0, dtype: DType = "f32"): Tensor {
  return map("sqrt(-2.0 * log(rng_unit(e, 0u))) * cos(6.283185307179586 * rng_unit(e, 1u))", [], dtype, shape, {
    uniform: seedWords(seed, stream),
    prelude: RNG,
    cpu: (_, e) => randNormal(e, seed >>> 0, stream >>> 0),
  });
}
