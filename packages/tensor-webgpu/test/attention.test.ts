import { afterAll, beforeAll, describe, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("fused attention", () => {
  it("the analytic CPU gradient matches finite differences of the CPU forward", () => {
    const [q, k, v] = [randNd([1, 2, 3, 4], 1), randNd([1, 2, 5, 4], 2), randNd([1, 2, 5, 4], 3)];
    const mask = ref.nd([0, 0.5, -1, 0, -1e9], [1, 1, 1, 5]);
    const w = randNd([1, 2, 3, 4], 4);
    const analytic = ref.attentionGrad(q, k, v, 0.4, mask, w);
    for (let i = 0; i < 3; i++) {
      const fd = ref.numericGrad((xs) => ref.dot(ref.attention(xs[0]!, xs[1]!, xs[2]!, 0.4, mask), w), [q, k, v], i);
      expectClose(analytic[i]!.data, fd, 1e-7, 1e-6);
    }
  });

  for (const [b, h, lq, lk, d, masked] of [
    [1, 1, 1, 1, 4, false],
    [2, 3, 5, 7, 8, false],
    [1, 2, 19, 33, 6, true],
    [1, 1, 17, 9, 64, true],
  ] as Array<[number, number, number, number, number, boolean]>) {
    for (const kernel of ["fused", "materialized"] as const)
      it(`B${b} H${h} Lq${lq} Lk${lk} D${d}${masked ? " masked" : ""}: forward and dQ/dK/dV (${kernel})`, async () => {
        const q = randNd([b, h, lq, d], 1 + d);
        const k = randNd([b, h, lk, d], 2 + d);
        const v = randNd([b, h, lk, d], 3 + d);
        // Key-padding style mask [B, 1, 1, Lk] with the last keys masked out, plus a small bias.
        const mask = masked
          ? ref.nd(
              Array.from({ length: b * lk }, (_, i) => (i % lk >= lk - 2 && lk > 2 ? -1e9 : 0.1 * (i % 3))),
              [b, 1, 1, lk],
            )
          : undefined;
        const scale = 1 / Math.sqrt(d);
        const qg = gpu(q, true);
        const kg = gpu(k, true);
        const vg = gpu(v, true);
        const y = T.attention(qg, kg, vg, { kernel, ...(mask ? { mask: gpu(mask) } : {}) });
        const f = (xs: ref.Nd[]): ref.Nd => ref.attention(xs[0]!, xs[1]!, xs[2]!, scale, mask);
        await expectTensor(y, f([q, k, v]), 1e-5, 1e-4);
        const w = randNd([b, h, lq, d], 9);
        const grads = await gpuGrads(y, w, [qg, kg, vg]);
        const want = ref.attentionGrad(q, k, v, scale, mask, w);
        grads.forEach((g, i) => {
          expectClose(g, want[i]!.data, 1e-5, 1e-4);
        });
      });
  }

  for (const kernel of ["fused", "materialized"] as const)
    it(`accepts [B, L, H, D] tensors as permuted views (head dim 128, ${kernel})`, async () => {
      const [b, l, h, d] = [1, 5, 2, 128];
      const x = randNd([b, l, h, d], 4);
      const xg = gpu(x, true);
      const qv = T.permute(xg, [0, 2, 1, 3]);
      const y = T.attention(qv, qv, qv, { kernel });
      const xp = ref.permute(x, [0, 2, 1, 3]);
      await expectTensor(y, ref.attention(xp, xp, xp, 1 / Math.sqrt(d)), 1e-5, 1e-4);
      const w = randNd([b, h, l, d], 5);
      const [g] = await gpuGrads(y, w, [xg]);
      // q, k and v are the same tensor: its gradient is the sum of the three.
      const parts = ref.attentionGrad(xp, xp, xp, 1 / Math.sqrt(d), undefined, w);
      const total = ref.zip(parts, (a, b2, c) => a + b2 + c);
      expectClose(g!, ref.permute(total, [0, 2, 1, 3]).data, 1e-5, 1e-4);
    });
});

describe("half-precision storage", () => {
  it("attention reads f16 q/k/v and bf16 k/v", async () => {
    const q = randNd([1, 2, 6, 8], 11);
    const k = randNd([1, 2, 9, 8], 12);
    const v = randNd([1, 2, 9, 8], 13);
    const round = (x: ref.Nd, bits: (d: ArrayLike<number>) => Uint16Array, back: (b: Uint16Array) => Float32Array) => ({
      data: Float64Array.from(back(bits(x.data))),
      shape: x.shape,
    });
    const want = (qq: ref.Nd, kk: ref.Nd, vv: ref.Nd) => ref.attention(qq, kk, vv, 1 / Math.sqrt(8));
    const bk = round(k, T.f32ToBf16Bits, T.bf16BitsToF32);
    const bv = round(v, T.f32ToBf16Bits, T.bf16BitsToF32);
    const y = T.attention(gpu(q), T.tensor(k.data, k.shape, "bf16"), T.tensor(v.data, v.shape, "bf16"));
    await expectTensor(y, want(q, bk, bv), 1e-5, 1e-4);
    if (!T.rt().gpu.has("shader-f16")) return;
    const hq = round(q, T.f32ToF16Bits, T.f16BitsToF32);
    const hk = round(k, T.f32ToF16Bits, T.f16BitsToF32);
    const hv = round(v, T.f32ToF16Bits, T.f16BitsToF32);
    const h = (x: ref.Nd) => T.tensor(x.data, x.shape, "f16");
    await expectTensor(T.attention(h(q), h(k), h(v)), want(hq, hk, hv), 1e-5, 1e-4);
  });
});
