import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

const unary: Array<[string, (x: T.Tensor) => T.Tensor, (v: number) => number]> = [
  ["exp", T.exp, Math.exp],
  ["sigmoid", T.sigmoid, ref.sigmoid],
  ["silu", T.silu, ref.silu],
  ["gelu", T.gelu, ref.gelu],
  ["tanh", T.tanh, Math.tanh],
  ["neg", T.neg, (v) => -v],
  ["square", T.square, (v) => v * v],
];

describe("unary ops", () => {
  for (const [name, op, f] of unary) {
    it(`${name}: forward matches the reference and backward matches finite differences`, async () => {
      const x = randNd([3, 7], 11);
      x.data.forEach((v, i) => {
        x.data[i] = v * 3;
      });
      const w = randNd([3, 7], 12);
      const xg = gpu(x, true);
      const y = op(xg);
      await expectTensor(y, ref.zip([x], f), 1e-5, 1e-4);
      const [g] = await gpuGrads(y, w, [xg]);
      const fd = ref.numericGrad(([a]) => ref.dot(ref.zip([a!], f), w), [x], 0);
      expectClose(g!, fd, 1e-4, 1e-3);
    });
  }

  it("sqrt, rsqrt and log on positive inputs", async () => {
    const x = randNd([17], 3);
    x.data.forEach((v, i) => {
      x.data[i] = v + 1.5;
    });
    for (const [op, f] of [
      [T.sqrt, Math.sqrt],
      [T.rsqrt, (v: number) => 1 / Math.sqrt(v)],
      [T.log, Math.log],
    ] as const) {
      const xg = gpu(x, true);
      const w = randNd([17], 4);
      const y = op(xg);
      await expectTensor(y, ref.zip([x], f));
      const [g] = await gpuGrads(y, w, [xg]);
      expectClose(
        g!,
        ref.numericGrad(([a]) => ref.dot(ref.zip([a!], f), w), [x], 0),
        1e-4,
        1e-3,
      );
    }
  });
});

const binary: Array<[string, (a: T.Tensor, b: T.Tensor) => T.Tensor, (a: number, b: number) => number]> = [
  ["add", T.add, (a, b) => a + b],
  ["sub", T.sub, (a, b) => a - b],
  ["mul", T.mul, (a, b) => a * b],
  ["div", T.div, (a, b) => a / b],
];

describe("binary ops with broadcasting", () => {
  for (const [name, op, f] of binary) {
    it(`${name}: [2,1,5] ∘ [3,1] forward and gradients of both operands`, async () => {
      const a = randNd([2, 1, 5], 21);
      const b = randNd([3, 1], 22);
      b.data.forEach((v, i) => {
        b.data[i] = v > 0 ? v + 0.5 : v - 0.5;
      });
      const ag = gpu(a, true);
      const bg = gpu(b, true);
      const y = op(ag, bg);
      const want = ref.zip([a, b], f);
      await expectTensor(y, want);
      const w = randNd(want.shape, 23);
      const [ga, gb] = await gpuGrads(y, w, [ag, bg]);
      const loss = (xs: ref.Nd[]): number => ref.dot(ref.zip([xs[0]!, xs[1]!], f), w);
      expectClose(ga!, ref.numericGrad(loss, [a, b], 0), 1e-4, 1e-3);
      expectClose(gb!, ref.numericGrad(loss, [a, b], 1), 1e-4, 1e-3);
    });
  }

  it("scalar operands and scale", async () => {
    const a = randNd([4, 3], 5);
    const ag = gpu(a, true);
    const y = T.sub(2, T.scale(ag, 0.25));
    await expectTensor(
      y,
      ref.zip([a], (v) => 2 - 0.25 * v),
    );
    const w = randNd([4, 3], 6);
    const [g] = await gpuGrads(y, w, [ag]);
    expectClose(
      g!,
      Array.from(w.data, (v) => -0.25 * v),
    );
  });

  it("where selects and routes gradients by the mask", async () => {
    const c = ref.nd([1, 0, 0, 1, 1, 0], [2, 3]);
    const a = randNd([2, 3], 7);
    const b = randNd([3], 8);
    const ag = gpu(a, true);
    const bg = gpu(b, true);
    const y = T.where(gpu(c), ag, bg);
    await expectTensor(
      y,
      ref.zip([c, a, b], (m, x, z) => (m ? x : z)),
    );
    const w = randNd([2, 3], 9);
    const [ga, gb] = await gpuGrads(y, w, [ag, bg]);
    expectClose(
      ga!,
      Array.from(w.data, (v, i) => (c.data[i] ? v : 0)),
    );
    expectClose(
      gb!,
      [0, 1, 2].map((j) => (c.data[j] ? 0 : w.data[j]!) + (c.data[3 + j] ? 0 : w.data[3 + j]!)),
    );
  });

  it("modulate computes x·(1+scale)+shift", async () => {
    const x = randNd([2, 3, 4], 1);
    const s = randNd([2, 1, 4], 2);
    const h = randNd([2, 1, 4], 3);
    await expectTensor(
      T.modulate(gpu(x), gpu(s), gpu(h)),
      ref.zip([x, s, h], (a, b, c) => a * (1 + b) + c),
    );
  });
});

describe("dtypes", () => {
  it("bf16 storage round-trips with round-to-nearest-even and is read by kernels", async () => {
    const values = [1, -2.5, 3.25, 1e-3, 65504, 1 + 2 ** -8, 1 + 3 * 2 ** -8];
    const t = T.tensor(values, [values.length], "bf16");
    const back = await t.toArray();
    const want = T.bf16BitsToF32(T.f32ToBf16Bits(values));
    expectClose(back, want, 0, 0);
    // 1 + 2^-8 is a tie that rounds to even (1.0); 1 + 3·2^-8 rounds up to 1 + 2^-6... ·(1/64)
    expect(want[5]).toBe(1);
    expect(want[6]).toBe(1 + 2 ** -6);
    await expectTensor(
      T.scale(t, 2),
      ref.nd(
        Array.from(want, (v) => 2 * v),
        [values.length],
      ),
    );
  });

  it("casts f32 → bf16 of odd length with packed pair writes", async () => {
    const x = randNd([3, 5], 4);
    const t = T.cast(gpu(x), "bf16");
    expect(t.dtype).toBe("bf16");
    expectClose(await t.toArray(), T.bf16BitsToF32(T.f32ToBf16Bits(x.data)), 0, 0);
  });

  it("f16 round-trips where the adapter supports shader-f16", async () => {
    const { gpu: g } = T.rt();
    if (!g.has("shader-f16")) return;
    const x = randNd([9], 5);
    const t = T.tensor(x.data, [9], "f16");
    expectClose(await t.toArray(), T.f16BitsToF32(T.f32ToF16Bits(x.data)), 0, 0);
    const y = T.add(t, t);
    expect(y.dtype).toBe("f16");
    expectClose(
      await y.toArray(),
      T.f16BitsToF32(T.f32ToF16Bits(x.data)).map((v) => 2 * v),
      1e-3,
      1e-3,
    );
  });

  it("i32 and u32 upload and download exactly", async () => {
    expect(Array.from(await T.tensor([1, -2, 3], [3], "i32").toArray())).toEqual([1, -2, 3]);
    expect(Array.from(await T.tensor([7, 2 ** 31], [2], "u32").toArray())).toEqual([7, 2 ** 31]);
  });
});

describe("four elements per thread (f32 rows of a multiple of 4)", () => {
  it("mapInto writes a strided, offset view of aligned rows; contiguous copies a permuted view", async () => {
    const x = randNd([3, 3, 8], 70);
    // Rows of 8 inside a [4, 3, 12] buffer, from column 4 of block 1: strides [36, 12, 1], offset 40.
    const buf = T.zeros([4, 3, 12]);
    const dst = T.slice(T.slice(buf, 0, 1, 4), 2, 4, 12);
    expect(dst.offset % 4).toBe(0);
    T.mapInto("x0 * 2.0 + f32(e % 3u)", [gpu(x)], dst);
    const got = await buf.toArray();
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 12; k++) {
          const e = (i * 3 + j) * 8 + (k - 4);
          const want = k < 4 ? 0 : x.data[e]! * 2 + (e % 3);
          expect(got[((i + 1) * 3 + j) * 12 + k]).toBeCloseTo(want, 5);
        }
    // A permuted (non-contiguous) source into a fresh [2, 3, 4] result.
    const y = randNd([4, 3, 2], 71);
    const p = T.contiguous(T.permute(gpu(y), [2, 1, 0]));
    await expectTensor(p, ref.permute(y, [2, 1, 0]));
  });
});
