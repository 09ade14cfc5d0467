import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { f8e4m3ToF32, f32ToF8e4m3 } from "../src/index.js";
import { type MatmulVariant, matmulRaw } from "../src/ops/matmul.js";
import { panelSubgroup } from "../src/ops/matmul-panel.js";
import { storeValue } from "../src/tensor.js";
import { expectClose, rand } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

const DEVICES: T.Device[] = ["gpu", "cpu"];

/** Every finite e4m3fn value with its code, ascending. */
function f8Values(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let c = 0; c < 256; c++) if ((c & 0x7f) !== 0x7f) out.push([f8e4m3ToF32(c), c]);
  return out.sort((x, y) => x[0] - y[0]);
}

/** Random [rows, cols] values, rows of different magnitudes, row 1 all zero. */
function weights(rows: number, cols: number, seed: number): Float32Array {
  const v = Float32Array.from(rand(rows * cols, seed));
  for (let r = 0; r < rows; r++) {
    const mag = r === 1 ? 0 : 2 ** ((r % 7) - 3);
    for (let c = 0; c < cols; c++) v[r * cols + c] = v[r * cols + c]! * mag;
  }
  return v;
}

describe("i8 and f8e4m3 codecs", () => {
  it("every finite e4m3 code decodes and re-encodes to itself (including -0)", () => {
    for (let c = 0; c < 256; c++) {
      if ((c & 0x7f) === 0x7f) continue;
      expect(f32ToF8e4m3(f8e4m3ToF32(c))).toBe(c);
    }
    expect(f8e4m3ToF32(0x7e)).toBe(448);
    expect(Number.isNaN(f8e4m3ToF32(0x7f))).toBe(true);
    expect(f32ToF8e4m3(Number.NaN)).toBe(0x7f);
  });

  it("encodes to the nearest value, ties to even, saturating at ±448", () => {
    const table = f8Values();
    const values = [...rand(2000, 9)].map((u, i) => u * 2 ** ((i % 24) - 14));
    for (const v of values) {
      const got = f8e4m3ToF32(f32ToF8e4m3(v));
      const best = Math.min(...table.map(([x]) => Math.abs(x - v)));
      expect(Math.abs(got - v)).toBe(best);
    }
    expect(f8e4m3ToF32(f32ToF8e4m3(1.0625))).toBe(1); // tie between 1 (even) and 1.125
    expect(f8e4m3ToF32(f32ToF8e4m3(1.1875))).toBe(1.25); // tie between 1.125 and 1.25 (even)
    expect(f8e4m3ToF32(f32ToF8e4m3(3 * 2 ** -10))).toBe(2 ** -8); // subnormal tie 1.5·2^-9 → 2·2^-9
    expect(f8e4m3ToF32(f32ToF8e4m3(2 ** -10))).toBe(0); // tie 0.5·2^-9 → 0
    expect(f8e4m3ToF32(f32ToF8e4m3(15.5 * 2 ** -10))).toBe(2 ** -6); // rounds up into the normals
    expect(f8e4m3ToF32(f32ToF8e4m3(464))).toBe(448);
    expect(f8e4m3ToF32(f32ToF8e4m3(1e9))).toBe(448);
    expect(f8e4m3ToF32(f32ToF8e4m3(Number.NEGATIVE_INFINITY))).toBe(-448);
    expect(f32ToF8e4m3(-1e-30)).toBe(0x80);
  });

  it("the CPU device stores the representable value; i8 rounds (ties to even) and clamps to ±127", () => {
    expect([200, -200, 1.5, 2.5, -0.4, -3.5].map((v) => storeValue("i8", v))).toEqual([127, -127, 2, 2, 0, -4]);
    expect(storeValue("f8e4m3", 1.0625)).toBe(1);
    expect(storeValue("f8e4m3", 1000)).toBe(448);
    expect(T.isFloat("f8e4m3")).toBe(true);
    expect(T.isFloat("i8")).toBe(false);
    expect(T.isQuantized("i8") && T.isQuantized("f8e4m3") && !T.isQuantized("bf16")).toBe(true);
  });
});

describe.each(DEVICES)("packed storage (%s)", (device) => {
  it("numbers are encoded, raw code arrays taken as codes, odd sizes read back", async () => {
    const nums = [200, -200, 1.5, 2.5, -0.4, 7, -1, 0, 3, 126.6, -127.5, 55, 9];
    expect(Array.from(await T.tensor(nums, [13], "i8", device).toArray())).toEqual([
      127, -127, 2, 2, 0, 7, -1, 0, 3, 127, -127, 55, 9,
    ]);
    expect(Array.from(await T.tensor(Uint8Array.from([255, 128, 1]), [3], "i8", device).toArray())).toEqual([
      -1, -128, 1,
    ]);
    expect(Array.from(await T.tensor(Int8Array.from([-5, 5, 100]), [3], "i8", device).toArray())).toEqual([-5, 5, 100]);
    const codes = Uint8Array.from({ length: 254 }, (_, i) => (i < 127 ? i : i + 1)); // all but the NaN codes
    const f8 = await T.tensor(codes, [254], "f8e4m3", device).toArray();
    expect(Array.from(f8)).toEqual(Array.from(codes, f8e4m3ToF32));
    const f8n = await T.tensor([1.0625, 500, -3e-3, 0.3], [4], "f8e4m3", device).toArray();
    expect(Array.from(f8n)).toEqual([1, 448, f8e4m3ToF32(f32ToF8e4m3(-3e-3)), f8e4m3ToF32(f32ToF8e4m3(0.3))]);
  });

  it("views and slices at any byte offset are read by contiguous, elementwise ops, reductions and matmul", async () => {
    for (const dtype of ["i8", "f8e4m3"] as const) {
      const [rows, cols] = [5, 7];
      const values = Array.from(rand(rows * cols, 3), (v) => (dtype === "i8" ? Math.round(v * 120) : v * 8));
      const stored = values.map((v) => storeValue(dtype, v));
      const full = { data: Float64Array.from(stored), shape: [rows, cols] };
      const q = T.tensor(values, [rows, cols], dtype, device);
      // Rows 1..4, columns 2..7: element offset 9 (byte 1 of word 2), row stride 7.
      const part = T.slice(T.slice(q, 0, 1, 4), 1, 2, 7);
      const want = ref.slice(ref.slice(full, 0, 1, 4), 1, 2, 7);
      expectClose(await part.toArray(), want.data, 0, 0);
      const c = T.contiguous(part);
      expect(c.dtype).toBe("f32");
      expectClose(await c.toArray(), want.data, 0, 0);
      expectClose(await T.contiguous(T.transpose(q)).toArray(), ref.transpose(full).data, 0, 0);
      expectClose(
        await T.add(part, T.tensor([1], [1], "f32", device)).toArray(),
        [...want.data].map((v) => v + 1),
        0,
        0,
      );
      expectClose(await T.sum(part, [1]).toArray(), ref.sum(want, [1]).data, 1e-4, 1e-6);
      const b = { data: rand(5 * 3, 4), shape: [5, 3] };
      expectClose(
        await T.matmul(part, T.tensor(b.data, b.shape, "f32", device)).toArray(),
        ref.matmul(want, b).data,
        1e-4,
        1e-5,
      );
      expect(() => T.cast(q, dtype)).toThrow(expect.objectContaining({ code: "quantized_output" }));
      expect(() => T.fill([3], 1, dtype, device)).toThrow(expect.objectContaining({ code: "quantized_output" }));
    }
  });
});

describe.each(DEVICES)("quantize (%s)", (device) => {
  it("int8: per-row scale absmax/127, |v − deq| ≤ scale/2, zero rows scale 1", async () => {
    const [rows, cols] = [37, 53];
    const v = weights(rows, cols, 11);
    const { codes, scale } = T.quantize(v, [rows, cols], "int8", device);
    expect(codes.dtype).toBe("i8");
    expect(codes.device).toBe(device);
    expect(scale).toBeInstanceOf(T.Tensor);
    const s = await (scale as T.Tensor).toArray();
    const deq = await T.dequantize(codes, scale);
    for (let r = 0; r < rows; r++) {
      const absmax = Math.max(...v.subarray(r * cols, (r + 1) * cols).map(Math.abs));
      expect(s[r]).toBe(absmax > 0 ? Math.fround(absmax / 127) : 1);
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        expect(Math.abs(v[i]! - deq[i]!)).toBeLessThanOrEqual(s[r]! / 2 + 1e-7 * s[r]!);
      }
    }
  });

  it("fp8: one scale absmax/448, relative error ≤ 2^-4 (2^-10·scale absolute below the normals)", async () => {
    const [rows, cols] = [29, 41];
    const v = weights(rows, cols, 12);
    const { codes, scale } = T.quantize(v, [rows, cols], "fp8", device);
    expect(codes.dtype).toBe("f8e4m3");
    expect(typeof scale).toBe("number");
    const absmax = Math.max(...v.map(Math.abs));
    expect(scale).toBe(Math.fround(absmax / 448));
    const s = scale as number;
    const deq = await T.dequantize(codes, s);
    for (let i = 0; i < v.length; i++) {
      const err = Math.abs(v[i]! - deq[i]!);
      if (Math.abs(v[i]!) >= 2 ** -6 * s) expect(err).toBeLessThanOrEqual(2 ** -4 * Math.abs(v[i]!) * (1 + 1e-6));
      else expect(err).toBeLessThanOrEqual(2 ** -10 * s * (1 + 1e-6));
    }
    expect(T.quantize(new Float32Array(6), [2, 3], "fp8", device).scale).toBe(1);
  });
});

/** Host f64 values of a tensor. */
async function host(t: T.Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.toArray());
}

describe("quantized GEMM kernels (every matmul variant reads the codes)", () => {
  const variants: MatmulVariant[] = ["tiled", "naive", "small", "panel", "auto"];
  for (const dtype of ["i8", "f8e4m3"] as const) {
    it(`${dtype}: x·codesᵀ (alpha, bias) and g·codes over ragged shapes`, async (ctx) => {
      for (const [m, k, n] of [
        [3, 37, 70],
        [19, 130, 9],
        [65, 17, 33],
      ]) {
        const w = weights(n!, k!, m! + k!);
        const { codes, scale } = T.quantize(w, [n!, k!], dtype === "i8" ? "int8" : "fp8", "gpu");
        const wq = { data: Float64Array.from(await codes.toArray()), shape: [n!, k!] };
        const x = { data: rand(m! * k!, 5), shape: [m!, k!] };
        const bias = { data: rand(n!, 6), shape: [n!] };
        const g = { data: rand(m! * n!, 7), shape: [m!, n!] };
        const alpha = typeof scale === "number" ? scale : 0.5;
        const prod = ref.matmul(x, ref.transpose(wq));
        const withBias = prod.data.map((v, i) => alpha * v + bias.data[i % n!]!);
        const back = ref.matmul(g, wq).data.map((v) => alpha * v);
        for (const variant of variants) {
          if (variant === "panel" && panelSubgroup(T.rt()) === undefined) continue;
          const xt = T.tensor(x.data, x.shape);
          const y = matmulRaw(xt, T.transpose(codes), { alpha, bias: T.tensor(bias.data) }, variant);
          expectClose(await host(y), withBias, 1e-4, 1e-4);
          // No bias: the panel kernel's transposed form (few rows) reads the codes as its A operand.
          const y0 = matmulRaw(xt, T.transpose(codes), {}, variant);
          expectClose(await host(y0), prod.data, 1e-4, 1e-4);
          const dx = matmulRaw(T.tensor(g.data, g.shape), codes, { alpha }, variant);
          expectClose(await host(dx), back, 1e-4, 1e-4);
        }
      }
      ctx.annotate?.(`variants ${variants.join(", ")}`);
    });
  }
});

describe.each(DEVICES)("quantizedLinear (%s)", (device) => {
  const cases = [
    { mode: "int8", batch: [] as number[], bias: true },
    { mode: "int8", batch: [2, 3], bias: false },
    { mode: "fp8", batch: [], bias: false },
    { mode: "fp8", batch: [2, 3], bias: true },
    { mode: "int8-tensor-scale-number", batch: [4], bias: true },
  ] as const;
  for (const c of cases) {
    it(`${c.mode}, batch [${c.batch}], ${c.bias ? "with" : "no"} bias: y and dx match linear on the dequantized weights`, async () => {
      const [out, inp] = [48, 40];
      const rows = c.batch.reduce((a, b) => a * b, 1) * 5;
      const w = weights(out, inp, 21);
      const q = T.quantize(w, [out, inp], c.mode === "fp8" ? "fp8" : "int8", device);
      // i8 codes with a per-tensor scale (a number) too.
      const scale = c.mode === "int8-tensor-scale-number" ? 0.01 : q.scale;
      const deq = await T.dequantize(q.codes, scale);
      const xShape = [...c.batch, 5, inp];
      const xv = rand(rows * inp, 22);
      const bv = rand(out, 23);
      const gv = rand(rows * out, 24);
      const run = async (weight: (x: T.Tensor, b?: T.Tensor) => T.Tensor) => {
        const x = T.tensor(xv, xShape, "f32", device).trainable();
        const b = c.bias ? T.tensor(bv, [out], "f32", device).trainable() : undefined;
        const y = weight(x, b);
        T.backward(T.sum(T.mul(y, T.tensor(gv, [...c.batch, 5, out], "f32", device))));
        return {
          y: await host(y),
          shape: y.shape,
          dx: await host(x.grad!),
          db: b ? await host(b.grad!) : undefined,
        };
      };
      const got = await run((x, b) => T.quantizedLinear(x, q.codes, scale, b));
      const want = await run((x, b) => T.linear(x, T.tensor(deq, [out, inp], "f32", device), b));
      expect(got.shape).toEqual([...c.batch, 5, out]);
      expectClose(got.y, want.y, 1e-4, 1e-4);
      expectClose(got.dx, want.dx, 1e-4, 1e-4);
      if (c.bias) expectClose(got.db!, want.db!, 1e-4, 1e-4);
    });
  }

  it("refuses non-code weights and a mis-shaped scale", () => {
    const x = T.tensor(rand(6), [2, 3], "f32", device);
    expect(() => T.quantizedLinear(x, T.tensor(rand(6), [2, 3], "f32", device), 1)).toThrow(
      expect.objectContaining({ code: "bad_dtype" }),
    );
    const codes = T.tensor([1, 2, 3, 4, 5, 6], [2, 3], "i8", device);
    expect(() => T.quantizedLinear(x, codes, T.tensor([1, 2, 3], [3], "f32", device))).toThrow(
      expect.objectContaining({ code: "shape_mismatch" }),
    );
  });
});

describe("memory: quantized weights stay packed on the GPU", () => {
  it("an [out, in] weight occupies out·in bytes (rounded up to 4) in the buffer pool", async () => {
    const [out, inp] = [256, 1024];
    const pool = T.rt().pool;
    for (const [dtype, mode] of [
      ["i8", "int8"],
      ["f8e4m3", "fp8"],
    ] as const) {
      const before = pool.stats.liveBytes;
      const codes = T.tensor(new Uint8Array(out * inp), [out, inp], dtype, "gpu");
      expect(codes.storage.bytes).toBe(out * inp);
      expect(pool.stats.liveBytes - before).toBe(out * inp);
      codes.dispose();
      const q = T.quantize(weights(out, inp, 5), [out, inp], mode, "gpu");
      expect(q.codes.storage.bytes).toBe(out * inp);
      q.codes.dispose();
      if (q.scale instanceof T.Tensor) q.scale.dispose();
    }
    expect(T.tensor([1, 2, 3, 4, 5], [5], "i8", "gpu").storage.bytes).toBe(8);
    expect(T.tensor([1, 2, 3], [3], "f8e4m3", "gpu").storage.bytes).toBe(4);
    expect(T.tensor(rand(out * inp), [out, inp], "bf16", "gpu").storage.bytes).toBe(2 * out * inp);
  });
});
