import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { matmulRaw } from "../src/ops/matmul.js";
import { panelSubgroup } from "../src/ops/matmul-panel.js";
import { planSubgroupMatrix, sgmatPlan, sgmatWgsl } from "../src/ops/matmul-sgmat.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("matmul", () => {
  for (const [m, k, n] of [
    [1, 1, 1],
    [5, 7, 3],
    [65, 17, 70],
    [33, 130, 9],
  ]) {
    it(`A·B ${m}x${k}·${k}x${n} (tiled and naive kernels)`, async () => {
      const a = randNd([m!, k!], m! + k!);
      const b = randNd([k!, n!], n! + 100);
      const want = ref.matmul(a, b);
      await expectTensor(T.matmul(gpu(a), gpu(b)), want, 1e-5, 1e-4);
      await expectTensor(matmulRaw(gpu(a), gpu(b), {}, "naive"), want, 1e-5, 1e-4);
    });
  }

  it("every tile shape handles ragged edges, including transposed operands", async () => {
    const a = randNd([131, 19], 30);
    const b = randNd([19, 70], 31);
    const want = ref.matmul(a, b);
    const tiles = [
      { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 },
      { bm: 64, bn: 64, bk: 8, tm: 8, tn: 8 },
      { bm: 64, bn: 32, bk: 8, tm: 4, tn: 4 },
    ];
    for (const tile of tiles) {
      await expectTensor(matmulRaw(gpu(a), gpu(b), {}, "tiled", tile), want, 1e-5, 1e-4);
      const at = T.transpose(gpu(ref.transpose(a)));
      const bt = T.transpose(gpu(ref.transpose(b)));
      await expectTensor(matmulRaw(at, bt, {}, "tiled", tile), want, 1e-5, 1e-4);
    }
  });

  it("A·Bᵀ and Aᵀ·B through transposed views", async () => {
    const a = randNd([6, 9], 1);
    const b = randNd([11, 9], 2);
    await expectTensor(T.matmul(gpu(a), T.transpose(gpu(b))), ref.matmul(a, ref.transpose(b)));
    const c = randNd([6, 4], 3);
    await expectTensor(T.matmul(T.transpose(gpu(a)), gpu(c)), ref.matmul(ref.transpose(a), c));
  });

  it("batched with broadcast batch dims, fused bias, alpha and addTo", async () => {
    const a = randNd([2, 3, 5, 4], 4);
    const b = randNd([3, 4, 6], 5);
    const bias = randNd([6], 6);
    const c = randNd([5, 6], 7);
    const y = T.matmul(gpu(a), gpu(b), { bias: gpu(bias), alpha: 0.5, addTo: gpu(c) });
    const prod = ref.matmul(a, b);
    await expectTensor(
      y,
      ref.zip([prod, bias, c], (p, q, r) => 0.5 * p + q + r),
      1e-5,
      1e-4,
    );
  });

  it("gradients of A, B (batched weight broadcast), bias and addTo", async () => {
    const a = randNd([2, 3, 4], 8);
    const b = randNd([4, 5], 9);
    const bias = randNd([5], 10);
    const c = randNd([2, 3, 5], 11);
    const ins = [gpu(a, true), gpu(b, true), gpu(bias, true), gpu(c, true)];
    const y = T.matmul(ins[0]!, ins[1]!, { bias: ins[2]!, addTo: ins[3]!, alpha: 1.5 });
    const w = randNd([2, 3, 5], 12);
    const grads = await gpuGrads(y, w, ins);
    const loss = (xs: ref.Nd[]): number =>
      ref.dot(
        ref.zip([ref.matmul(xs[0]!, xs[1]!), xs[2]!, xs[3]!], (p, q, r) => 1.5 * p + q + r),
        w,
      );
    const cpu = [a, b, bias, c];
    grads.forEach((g, i) => {
      expectClose(g, ref.numericGrad(loss, cpu, i), 1e-4, 1e-3);
    });
  });

  it("batched A·B with both operands trainable and non-contiguous", async () => {
    const a = randNd([3, 4, 2], 13);
    const b = randNd([3, 5, 4], 14);
    const ag = gpu(a, true);
    const bg = gpu(b, true);
    const y = T.matmul(T.transpose(ag), T.transpose(bg));
    const f = (xs: ref.Nd[]): ref.Nd => ref.matmul(ref.transpose(xs[0]!), ref.transpose(xs[1]!));
    await expectTensor(y, f([a, b]));
    const w = randNd([3, 2, 5], 15);
    const [ga, gb] = await gpuGrads(y, w, [ag, bg]);
    expectClose(
      ga!,
      ref.numericGrad((xs) => ref.dot(f(xs), w), [a, b], 0),
      1e-4,
      1e-3,
    );
    expectClose(
      gb!,
      ref.numericGrad((xs) => ref.dot(f(xs), w), [a, b], 1),
      1e-4,
      1e-3,
    );
  });

  it("reads bf16 weights directly", async () => {
    const a = randNd([4, 6], 16);
    const b = randNd([6, 3], 17);
    const bq = T.bf16BitsToF32(T.f32ToBf16Bits(b.data));
    const y = T.matmul(gpu(a), T.tensor(b.data, b.shape, "bf16"));
    await expectTensor(y, ref.matmul(a, ref.nd(bq, b.shape)), 1e-5, 1e-4);
  });

  it("reads f16 operands where shader-f16 exists (f32 accumulation, f32 result)", async () => {
    if (!T.rt().gpu.has("shader-f16")) return;
    const a = randNd([9, 70], 18);
    const b = randNd([70, 5], 19);
    const h = (x: ref.Nd) => ref.nd(T.f16BitsToF32(T.f32ToF16Bits(x.data)), x.shape);
    const y = T.matmul(T.tensor(a.data, a.shape, "f16"), T.tensor(b.data, b.shape, "f16"));
    expect(y.dtype).toBe("f32");
    await expectTensor(y, ref.matmul(h(a), h(b)), 1e-5, 1e-4);
  });

  it("loraLinear gives dx, dA, dB and no gradient for the frozen weight", async () => {
    const [tok, din, dout, r, s] = [5, 6, 4, 2, 0.75];
    const x = randNd([1, tok, din], 20);
    const wt = randNd([dout, din], 21);
    const bias = randNd([dout], 22);
    const la = randNd([r, din], 23);
    const lb = randNd([dout, r], 24);
    const xg = gpu(x, true);
    const wg = gpu(wt);
    const ag = gpu(la, true);
    const bgp = gpu(lb, true);
    const y = T.loraLinear(xg, wg, gpu(bias), ag, bgp, s);
    const f = (xs: ref.Nd[]): ref.Nd => {
      const base = ref.matmul(xs[0]!, ref.transpose(wt));
      const low = ref.matmul(ref.matmul(xs[0]!, ref.transpose(xs[1]!)), ref.transpose(xs[2]!));
      return ref.zip([base, low, bias], (p, q, c) => p + s * q + c);
    };
    await expectTensor(y, f([x, la, lb]), 1e-5, 1e-4);
    const w = randNd([1, tok, dout], 25);
    const grads = await gpuGrads(y, w, [xg, ag, bgp]);
    grads.forEach((g, i) => {
      expectClose(
        g,
        ref.numericGrad((xs) => ref.dot(f(xs), w), [x, la, lb], i),
        1e-4,
        1e-3,
      );
    });
    expect(wg.grad).toBeUndefined();
  });
});

describe("packed-panel kernel (CPU adapters)", () => {
  const available = (): boolean => panelSubgroup(T.rt()) !== undefined;

  it("matches the reference over ragged M, N and K, several K chunks and strided A", async (ctx) => {
    if (!available()) ctx.skip();
    // K 1100 spans three 512-row chunks on an 8-lane adapter; N 70 three panels; M 19 a partial row block.
    for (const [m, k, n] of [
      [19, 1100, 70],
      [1, 3, 1],
      [64, 40, 33],
      [5, 0, 6],
    ]) {
      const a = randNd([m!, k!], m! + k!);
      const b = randNd([k!, n!], n! + 7);
      const want = ref.matmul(a, b);
      await expectTensor(matmulRaw(gpu(a), gpu(b), {}, "panel"), want, 1e-4, 1e-4);
      // Transposed views: A with k-stride ≠ 1 (scalar loads), B column-major (strided packing).
      const at = T.transpose(gpu(ref.transpose(a)));
      const bt = T.transpose(gpu(ref.transpose(b)));
      await expectTensor(matmulRaw(at, bt, {}, "panel"), want, 1e-4, 1e-4);
    }
  });

  it("runs few-row products transposed (Cᵀ = Bᵀ·Aᵀ, packing A), as for LoRA weight gradients", async (ctx) => {
    if (!available()) ctx.skip();
    // [r, T]·[T, d] like dA, with T spanning two K chunks; and a bf16 B, which only the swapped form can pack.
    const a = randNd([6, 700], 50);
    const b = randNd([700, 45], 51);
    await expectTensor(
      matmulRaw(gpu(a), gpu(b), { alpha: 2 }, "panel"),
      ref.zip([ref.matmul(a, b)], (v) => 2 * v),
      1e-4,
      1e-4,
    );
    const b16 = T.tensor(b.data, b.shape, "bf16");
    const rounded = { shape: b.shape, data: Float64Array.from(T.bf16BitsToF32(T.f32ToBf16Bits(b.data))) };
    await expectTensor(matmulRaw(gpu(a), b16, {}, "panel"), ref.matmul(a, rounded), 1e-4, 1e-4);
  });

  it("applies alpha, bias and a broadcast addTo once, after the last K chunk", async (ctx) => {
    if (!available()) ctx.skip();
    // K 600: two chunks, one panel per window; K 40: one chunk, three panels in one window, N not a multiple of 4;
    // and a full [M, N] addTo read as vec4 rows, as LoRA's base output is.
    for (const [k, n, cRows] of [
      [600, 36, 1],
      [40, 70, 10],
      [40, 64, 10],
    ]) {
      const a = randNd([10, k!], 40 + k!);
      const b = randNd([k!, n!], 41);
      const bias = randNd([n!], 42);
      const c = randNd([cRows!, n!], 43);
      const y = matmulRaw(gpu(a), gpu(b), { alpha: 0.25, bias: gpu(bias), addTo: gpu(c) }, "panel");
      const want = ref.zip([ref.matmul(a, b), bias, c], (p, q, r) => 0.25 * p + q + r);
      await expectTensor(y, want, 1e-4, 1e-4);
    }
  });

  it("reads an unaligned A window (offset not a multiple of 4), bf16 A and f16 A with an f16 bias", async (ctx) => {
    if (!available()) ctx.skip();
    const full = randNd([9, 37], 44);
    const b = randNd([36, 40], 45);
    const view = T.slice(gpu(full), 1, 1, 37); // [9, 36] at offset 1, row stride 37
    const want = ref.matmul(ref.slice(full, 1, 1, 37), b);
    await expectTensor(matmulRaw(view, gpu(b), {}, "panel"), want, 1e-4, 1e-4);
    const sliced = ref.slice(full, 1, 1, 37);
    const a16 = T.tensor(sliced.data, sliced.shape, "bf16");
    const rounded = { shape: sliced.shape, data: Float64Array.from(T.bf16BitsToF32(T.f32ToBf16Bits(sliced.data))) };
    const wantBf16 = ref.matmul(rounded, b);
    await expectTensor(matmulRaw(a16, gpu(b), {}, "panel"), wantBf16, 1e-4, 1e-4);
    if (T.rt().gpu.has("shader-f16")) {
      const h = T.tensor(sliced.data, sliced.shape, "f16");
      const halves = { shape: sliced.shape, data: Float64Array.from(T.f16BitsToF32(T.f32ToF16Bits(sliced.data))) };
      await expectTensor(
        matmulRaw(h, gpu(b), { bias: T.tensor(b.data.slice(0, 40), [40], "f16") }, "panel"),
        ref.zip(
          [
            ref.matmul(halves, b),
            { shape: [40], data: Float64Array.from(T.f16BitsToF32(T.f32ToF16Bits(b.data.slice(0, 40)))) },
          ],
          (p, q) => p + q,
        ),
        1e-4,
        1e-4,
      );
    }
  });

  it("runs batched products with broadcast batch dims, packing each B once", async (ctx) => {
    if (!available()) ctx.skip();
    // B batched over the first dim only, A over both: two packed B's serve six products.
    const a = randNd([2, 3, 20, 50], 60);
    const b = randNd([2, 1, 50, 36], 61);
    const c = randNd([3, 1, 36], 62);
    const y = matmulRaw(gpu(a), gpu(b), { addTo: gpu(c) }, "panel");
    await expectTensor(
      y,
      ref.zip([ref.matmul(a, b), c], (p, q) => p + q),
      1e-4,
      1e-4,
    );
    // Batched A·Bᵀ as in attention scores (B a transposed view), and a swapped batched product.
    const k = randNd([2, 3, 40, 50], 63);
    const kt = T.transpose(gpu(k));
    await expectTensor(matmulRaw(gpu(a), kt, {}, "panel"), ref.matmul(a, ref.transpose(k)), 1e-4, 1e-4);
    const wide = randNd([2, 3, 50, 70], 64);
    await expectTensor(matmulRaw(gpu(a), gpu(wide), {}, "panel"), ref.matmul(a, wide), 1e-4, 1e-4);
  });

  it("is what matmul picks for large enough products on a CPU adapter", async () => {
    const a = randNd([128, 64], 46);
    const b = randNd([64, 64], 47);
    const before = T.rt().stats.dispatches;
    await expectTensor(T.matmul(gpu(a), gpu(b)), ref.matmul(a, b), 1e-4, 1e-4);
    const dispatches = T.rt().stats.dispatches - before;
    // On lavapipe: pack, then one dispatch for both 32-column panels (they share a 64 KiB window).
    expect(dispatches).toBe(T.rt().gpu.info.isSoftware && available() ? 2 : 1);
    // kernelPaths (what `a2v doctor` prints) names the same choice.
    const paths = T.kernelPaths(T.rt());
    if (T.rt().gpu.info.isSoftware && available()) expect(paths.matmul).toMatch(/packed panels of \d+ columns/);
    else expect(paths.matmul).toMatch(sgmatPlan(T.rt()) ? /subgroup matrices/ : /tiled SIMT/);
  });
});

describe("small-product kernel (CPU adapters: uniform shapes, fast to compile)", () => {
  it("matches the reference over ragged shapes, transposed and offset views, 3 broadcast batch dims and the epilogue", async () => {
    for (const [m, k, n] of [
      [1, 1, 1],
      [5, 7, 3],
      [65, 17, 70],
      [5, 0, 6],
    ]) {
      const a = randNd([m!, k!], m! + k!);
      const b = randNd([k!, n!], n! + 7);
      const want = ref.matmul(a, b);
      await expectTensor(matmulRaw(gpu(a), gpu(b), {}, "small"), want, 1e-5, 1e-4);
      const at = T.transpose(gpu(ref.transpose(a)));
      const bt = T.transpose(gpu(ref.transpose(b)));
      await expectTensor(matmulRaw(at, bt, {}, "small"), want, 1e-5, 1e-4);
    }
    const full = randNd([9, 37], 70);
    const view = T.slice(gpu(full), 1, 1, 37);
    const w = randNd([36, 10], 71);
    await expectTensor(matmulRaw(view, gpu(w), {}, "small"), ref.matmul(ref.slice(full, 1, 1, 37), w), 1e-5, 1e-4);
    const a = randNd([2, 3, 2, 5, 4], 72);
    const b = randNd([3, 1, 4, 6], 73);
    const bias = randNd([6], 74);
    const c = randNd([3, 1, 5, 6], 75);
    const y = matmulRaw(gpu(a), gpu(b), { bias: gpu(bias), alpha: 0.5, addTo: gpu(c) }, "small");
    await expectTensor(
      y,
      ref.zip([ref.matmul(a, b), bias, c], (p, q, r) => 0.5 * p + q + r),
      1e-5,
      1e-4,
    );
    const b16 = T.tensor(b.data, b.shape, "bf16");
    const rounded = ref.nd(T.bf16BitsToF32(T.f32ToBf16Bits(b.data)), b.shape);
    await expectTensor(matmulRaw(gpu(a), b16, {}, "small"), ref.matmul(a, rounded), 1e-5, 1e-4);
  });

  it("is what matmul picks for small products on a CPU adapter: one pipeline for every shape", async () => {
    if (!T.rt().gpu.info.isSoftware) return;
    const before = T.rt().stats.pipelines;
    for (const [m, k, n] of [
      [3, 11, 13],
      [8, 128, 128],
      [17, 32, 8],
      [4, 64, 96],
    ]) {
      const a = randNd([m!, k!], 80 + m!);
      const b = randNd([k!, n!], 90 + n!);
      await expectTensor(T.matmul(gpu(a), gpu(b)), ref.matmul(a, b), 1e-5, 1e-4);
    }
    // One GEMM pipeline (plus at most the upload/readback helpers the first product compiles).
    expect(T.rt().stats.pipelines - before).toBeLessThanOrEqual(1);
  });
});

describe("subgroup-matrix (tensor core) path", () => {
  const fakeRuntime = (features: string[], configs: T.SubgroupMatrixConfig[]) =>
    ({
      gpu: {
        has: (f: string) => features.includes(f),
        info: { subgroupMaxSize: 32, subgroupMatrixConfigs: configs },
      },
    }) as unknown as T.Runtime;
  const f16 = { componentType: "f16", resultComponentType: "f32", M: 16, N: 8, K: 16 };
  const f16acc = { componentType: "f16", resultComponentType: "f16", M: 16, N: 16, K: 16 };
  const f32 = { componentType: "f32", resultComponentType: "f32", M: 8, N: 8, K: 8 };

  it("plans f16 inputs with f32 accumulation first, then f32, and never f16 accumulation", () => {
    const all = ["chromium-experimental-subgroup-matrix", "subgroups", "shader-f16"];
    expect(planSubgroupMatrix(fakeRuntime(all, [f16acc, f32, f16]))).toMatchObject({
      component: "f16",
      bm: 64,
      bn: 32,
      bk: 32,
    });
    expect(planSubgroupMatrix(fakeRuntime(all.slice(0, 2), [f16, f32]))?.component).toBe("f32");
    expect(planSubgroupMatrix(fakeRuntime(all, [f16acc]))).toBeUndefined();
    expect(planSubgroupMatrix(fakeRuntime(["subgroups"], [f16]))).toBeUndefined();
  });

  it("generates a kernel that declares the planned matrix types", () => {
    const plan = planSubgroupMatrix(
      fakeRuntime(["chromium-experimental-subgroup-matrix", "subgroups", "shader-f16"], [f16]),
    )!;
    const a = T.tensor(new Array(6).fill(1), [2, 3]);
    const b = T.tensor(new Array(12).fill(1), [3, 4]);
    const ops = { a, b, bias: undefined, addTo: undefined, alpha: 1, batch: [], m: 2, n: 4, k: 3 };
    const wgsl = sgmatWgsl(ops, plan);
    expect(wgsl).toContain("subgroup_matrix_left<f16, 16, 16>");
    expect(wgsl).toContain("subgroup_matrix_right<f16, 8, 16>");
    expect(wgsl).toContain("subgroup_matrix_result<f32, 8, 16>");
    expect(wgsl).toContain("@workgroup_size(128)");
  });

  it("stays on the SIMT kernel where the adapter has no subgroup matrices (lavapipe)", () => {
    const rt = T.rt();
    if (rt.gpu.has("chromium-experimental-subgroup-matrix")) return;
    expect(sgmatPlan(rt)).toBeUndefined();
  });
});
