import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

/** Float64 reference: silu(x / sqrt(mean over dim 1 of x² + eps)). */
function cpuPixelNormSilu(x: ref.Nd, eps: number): ref.Nd {
  const ms = ref.mean(
    ref.zip([x], (v) => v * v),
    [1],
  );
  return ref.zip([x, ms], (v, m) => {
    const y = v / Math.sqrt(m + eps);
    return y / (1 + Math.exp(-y));
  });
}

describe("pixelNormSilu", () => {
  it("matches the reference on odd sizes and equals the composed silu(pixelNorm(x))", async () => {
    const x = randNd([2, 7, 3, 5], 11);
    const y = T.pixelNormSilu(gpu(x), 1e-6);
    await expectTensor(y, cpuPixelNormSilu(x, 1e-6), 1e-6, 1e-5);
    const composed = T.silu(T.pixelNorm(gpu(x), 1, 1e-6));
    expectClose(await y.toArray(), await composed.toArray(), 1e-6, 1e-5);
  });

  it("reads a strided view and writes into a view of a larger tensor", async () => {
    const x = randNd([1, 8, 6, 3, 2], 12);
    const padded = T.zeros([1, 4, 8, 3, 2]);
    // Every other channel, frames 1..4: strided along both the channel and the time dim.
    const src = T.slice(T.slice(gpu(x), 1, 0, 8, 2), 2, 1, 5);
    const interior = T.slice(padded, 2, 2, 6);
    T.pixelNormSilu(src, 1e-8, interior);
    const want = cpuPixelNormSilu(ref.slice(ref.slice(x, 1, 0, 8, 2), 2, 1, 5), 1e-8);
    const zero = { data: new Float64Array(4 * 2 * 3 * 2), shape: [1, 4, 2, 3, 2] };
    await expectTensor(padded, ref.concat([zero, want, zero], 2), 1e-6, 1e-5);
  });

  it("refuses inputs that need a gradient", () => {
    expect(() => T.pixelNormSilu(gpu(randNd([1, 2, 3]), true))).toThrow(/no backward/);
  });
});
