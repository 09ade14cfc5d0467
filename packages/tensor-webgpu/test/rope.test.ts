import { afterAll, beforeAll, describe, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("rope", () => {
  for (const layout of ["split", "interleaved"] as const) {
    it(`${layout}: [B, T, H, dh] with per-token, per-head tables; forward and gradient`, async () => {
      const [b, t, h, dh] = [2, 3, 2, 8];
      const x = randNd([b, t, h, dh], 1);
      const angles = randNd([b, t, h, dh / 2], 2);
      const cos = { data: angles.data.map(Math.cos), shape: angles.shape };
      const sin = { data: angles.data.map(Math.sin), shape: angles.shape };
      const xg = gpu(x, true);
      const y = T.rope(xg, gpu(cos), gpu(sin), layout);
      const f = (xs: ref.Nd[]): ref.Nd => ref.rope(xs[0]!, cos, sin, layout);
      await expectTensor(y, f([x]), 1e-6, 1e-5);
      const w = randNd(x.shape, 3);
      const [g] = await gpuGrads(y, w, [xg]);
      expectClose(
        g!,
        ref.numericGrad((xs) => ref.dot(f(xs), w), [x], 0),
        1e-5,
        1e-4,
      );
    });
  }

  it("broadcasts a [T, dh/2] table over batch and heads of a permuted [B, H, T, dh] view", async () => {
    const [b, t, h, dh] = [1, 4, 3, 6];
    const x = randNd([b, t, h, dh], 4);
    const angles = randNd([t, 1, dh / 2], 5);
    const cos = { data: angles.data.map(Math.cos), shape: angles.shape };
    const sin = { data: angles.data.map(Math.sin), shape: angles.shape };
    const xv = T.permute(gpu(x), [0, 2, 1, 3]);
    const cv = T.permute(gpu(cos), [1, 0, 2]);
    const sv = T.permute(gpu(sin), [1, 0, 2]);
    const want = ref.permute(ref.rope(x, cos, sin, "split"), [0, 2, 1, 3]);
    await expectTensor(T.rope(xv, cv, sv, "split"), want, 1e-6, 1e-5);
  });
});
