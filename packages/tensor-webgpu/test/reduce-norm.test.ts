import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("reductions", () => {
  const cases: Array<[string, typeof T.sum, typeof ref.sum]> = [
    ["sum", T.sum, ref.sum],
    ["mean", T.mean, ref.mean],
    ["max", T.max, ref.max],
  ];
  for (const [name, op, f] of cases) {
    for (const [shape, axes] of [
      [[3, 4, 5], [1]],
      [[2, 70], [1]],
      [
        [4, 3, 2],
        [0, 2],
      ],
      [[6], [0]],
    ] as Array<[number[], number[]]>) {
      it(`${name} over ${JSON.stringify(axes)} of ${JSON.stringify(shape)} with gradient`, async () => {
        const x = randNd(shape, 31 + shape.length);
        const xg = gpu(x, true);
        const y = op(xg, axes, true);
        const want = f(x, axes);
        await expectTensor(y, want, 1e-5, 1e-4);
        const w = randNd(want.shape, 5);
        const [g] = await gpuGrads(y, w, [xg]);
        expectClose(
          g!,
          ref.numericGrad(([a]) => ref.dot(f(a!, axes), w), [x], 0),
          1e-4,
          1e-3,
        );
      });
    }
  }

  it("drops reduced axes without keepDims and reduces everything by default", async () => {
    const x = randNd([2, 3, 4], 2);
    const y = T.sum(T.tensor(x.data, x.shape), -1);
    expect(y.shape).toEqual([2, 3]);
    await expectTensor(y, { ...ref.sum(x, [2]), shape: [2, 3] });
    const all = T.mean(T.tensor(x.data, x.shape));
    expect(all.shape).toEqual([]);
    expectClose([await all.item()], [ref.mean(x, [0, 1, 2]).data[0]!]);
  });

  it("reduces a transposed (strided) view", async () => {
    const x = randNd([5, 3], 8);
    const t = T.transpose(T.tensor(x.data, x.shape));
    await expectTensor(T.sum(t, 1, true), ref.sum(ref.transpose(x), [1]));
  });
});

describe("softmax and norms", () => {
  it("softmax over the last axis (long row) with gradient", async () => {
    const x = randNd([3, 100], 41);
    const xg = gpu(x, true);
    const y = T.softmax(xg);
    await expectTensor(y, ref.softmax(x), 1e-6, 1e-4);
    const w = randNd([3, 100], 42);
    const [g] = await gpuGrads(y, w, [xg]);
    expectClose(
      g!,
      ref.numericGrad(([a]) => ref.dot(ref.softmax(a!), w), [x], 0),
      1e-5,
      1e-3,
    );
  });

  for (const variant of ["none", "weight", "onePlus"] as const) {
    it(`rmsNorm (${variant}) forward and gradients`, async () => {
      const x = randNd([2, 3, 19], 51);
      const wt = randNd([19], 52);
      const xg = gpu(x, true);
      const wg = variant === "none" ? undefined : gpu(wt, true);
      const y = T.rmsNorm(xg, wg, { eps: 1e-5, onePlusWeight: variant === "onePlus" });
      const f = (xs: ref.Nd[]): ref.Nd =>
        ref.rmsNorm(xs[0]!, variant === "none" ? undefined : xs[1], 1e-5, variant === "onePlus");
      await expectTensor(y, f([x, wt]), 1e-5, 1e-4);
      const w = randNd(x.shape, 53);
      const grads = await gpuGrads(y, w, wg ? [xg, wg] : [xg]);
      const loss = (xs: ref.Nd[]): number => ref.dot(f(xs), w);
      expectClose(grads[0]!, ref.numericGrad(loss, [x, wt], 0), 1e-4, 1e-3);
      if (wg) expectClose(grads[1]!, ref.numericGrad(loss, [x, wt], 1), 1e-4, 1e-3);
    });
  }

  it("layerNorm without affine, forward and gradient", async () => {
    const x = randNd([4, 70], 61);
    const xg = gpu(x, true);
    const y = T.layerNorm(xg, 1e-6);
    await expectTensor(y, ref.layerNorm(x, 1e-6), 1e-5, 1e-4);
    const w = randNd(x.shape, 62);
    const [g] = await gpuGrads(y, w, [xg]);
    expectClose(
      g!,
      ref.numericGrad(([a]) => ref.dot(ref.layerNorm(a!, 1e-6), w), [x], 0),
      1e-4,
      1e-3,
    );
  });
});
