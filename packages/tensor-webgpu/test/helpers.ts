import { expect } from "vitest";
import type { Nd } from "../src/cpu/reference.js";
import { backward, mul, sum, type Tensor, tensor } from "../src/index.js";

/** Deterministic pseudo-random values in [-1, 1) (mulberry32). */
export function rand(n: number, seed = 1): Float64Array {
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function randNd(shape: readonly number[], seed = 1): Nd {
  return {
    data: rand(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape: [...shape],
  };
}

export function gpu(x: Nd, trainable = false): Tensor {
  const t = tensor(x.data, x.shape);
  if (trainable) t.requiresGrad = true;
  return t;
}

/** Asserts |got − want| ≤ atol + rtol·|want| elementwise, reporting the worst index. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4): void {
  expect(got.length).toBe(want.length);
  let worst = -1;
  let excess = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!) - (atol + rtol * Math.abs(want[i]!));
    if (!(err <= excess)) {
      excess = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`element ${worst}: got ${got[worst]}, want ${want[worst]} (exceeds tolerance by ${excess})`);
  }
}

export async function expectTensor(t: Tensor, want: Nd, atol = 1e-5, rtol = 1e-4): Promise<void> {
  expect(t.shape).toEqual(want.shape);
  expectClose(await t.toArray(), want.data, atol, rtol);
}

/** GPU backward of Σ y·w (y = op(inputs)); returns the gradients of the trainable inputs. */
export async function gpuGrads(y: Tensor, w: Nd, inputs: Tensor[]): Promise<Float32Array[]> {
  const loss = sum(mul(y, tensor(w.data, w.shape)));
  backward(loss);
  const out: Float32Array[] = [];
  for (const t of inputs) out.push((await t.grad!.toArray()) as Float32Array);
  return out;
}
