import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("views and copies", () => {
  it("reshape, permute, transpose, slice, expand, concat, split forward", async () => {
    const x = randNd([2, 3, 4], 1);
    const xg = gpu(x);
    await expectTensor(T.reshape(xg, [4, -1]), { data: x.data, shape: [4, 6] });
    await expectTensor(T.permute(xg, [2, 0, 1]), ref.permute(x, [2, 0, 1]));
    await expectTensor(T.slice(xg, 2, 1, 4, 2), ref.slice(x, 2, 1, 4, 2));
    await expectTensor(T.slice(xg, -1, -3), ref.slice(x, 2, 1, 4));
    // reshape of a non-contiguous view copies
    const p = T.permute(xg, [1, 0, 2]);
    expect(p.isContiguous).toBe(false);
    await expectTensor(T.reshape(p, [3, 8]), { ...ref.permute(x, [1, 0, 2]), shape: [3, 8] });
    const y = randNd([2, 5, 4], 2);
    await expectTensor(T.concat([xg, gpu(y)], 1), ref.concat([x, y], 1));
    const [s0, s1] = T.split(gpu(y), [2, 3], 1);
    await expectTensor(s1!, ref.slice(y, 1, 2, 5));
    expect(s0!.shape).toEqual([2, 2, 4]);
    const e = T.expand(gpu(ref.nd([1, 2, 3], [3, 1])), [2, 3, 4]);
    await expectTensor(
      e,
      ref.zip([ref.nd([1, 2, 3], [3, 1]), ref.nd(new Array(24).fill(0), [2, 3, 4])], (a) => a),
    );
  });

  it("gradients through permute, slice, concat, reshape and expand", async () => {
    const a = randNd([2, 3, 4], 3);
    const b = randNd([2, 2, 4], 4);
    const ag = gpu(a, true);
    const bg = gpu(b, true);
    const f = (xs: ref.Nd[]): ref.Nd => {
      const c = ref.concat([ref.slice(xs[0]!, 1, 0, 3, 2), xs[1]!], 1); // [2,4,4]
      return ref.permute(c, [2, 0, 1]);
    };
    const c = T.concat([T.slice(ag, 1, 0, 3, 2), bg], 1);
    const y = T.reshape(T.permute(c, [2, 0, 1]), [4, 8]);
    const yy = T.mul(y, T.expand(T.tensor([1, 2, 3, 4], [4, 1]), [4, 8]));
    const fw = (xs: ref.Nd[]): ref.Nd =>
      ref.zip([{ ...f(xs), shape: [4, 8] }, ref.nd([1, 2, 3, 4], [4, 1])], (p, q) => p * q);
    await expectTensor(yy, fw([a, b]));
    const w = randNd([4, 8], 5);
    const [ga, gb] = await gpuGrads(yy, w, [ag, bg]);
    expectClose(
      ga!,
      ref.numericGrad((xs) => ref.dot(fw(xs), w), [a, b], 0),
      1e-4,
      1e-3,
    );
    expectClose(
      gb!,
      ref.numericGrad((xs) => ref.dot(fw(xs), w), [a, b], 1),
      1e-4,
      1e-3,
    );
  });
});

describe("autograd", () => {
  it("records nothing for tensors that do not require gradients", () => {
    const x = T.tensor([1, 2, 3]);
    const y = T.exp(T.mul(x, x));
    expect(y.node).toBeUndefined();
    const p = T.tensor([1, 2, 3]).trainable();
    const z = T.add(y, p);
    expect(z.node?.op).toBe("add");
    expect(T.noGrad(() => T.add(y, p)).node).toBeUndefined();
  });

  it("accumulates gradients over several backward calls and shared uses", async () => {
    const p = T.tensor([1, -2, 3]).trainable();
    for (let step = 0; step < 2; step++) {
      const loss = T.sum(T.add(T.mul(p, p), p)); // d/dp = 2p + 1
      T.backward(loss);
      loss.dispose();
    }
    expectClose(await p.grad!.toArray(), [6, -6, 14]);
  });

  it("keeps saved tensors alive after scope() disposes the user's handles", async () => {
    const p = T.tensor([0.5, 1.5]).trainable();
    const loss = T.scope(() => {
      const h = T.exp(T.mul(p, 2));
      return T.sum(T.mul(h, h));
    });
    T.backward(loss);
    // loss = Σ exp(4p); grad = 4 exp(4p)
    expectClose(await p.grad!.toArray(), [4 * Math.exp(2), 4 * Math.exp(6)], 1e-3, 1e-5);
    expect(() => T.backward(loss)).toThrow(/freed/);
  });

  it("checkpoint recomputes the block and matches the plain gradient", async () => {
    const x = randNd([3, 4], 7);
    const wt = randNd([4, 4], 8);
    const run = async (useCheckpoint: boolean): Promise<Float32Array[]> => {
      const xg = gpu(x, true);
      const wg = gpu(wt, true);
      const block = (h: T.Tensor): T.Tensor => T.gelu(T.matmul(T.rmsNorm(h), wg));
      const y = useCheckpoint ? T.checkpoint(block, xg) : block(xg);
      const loss = T.sum(T.mul(y, y));
      T.backward(loss);
      return [(await xg.grad!.toArray()) as Float32Array, (await wg.grad!.toArray()) as Float32Array];
    };
    const plain = await run(false);
    const ckpt = await run(true);
    expectClose(ckpt[0]!, plain[0]!, 1e-6, 1e-5);
    expectClose(ckpt[1]!, plain[1]!, 1e-6, 1e-5);
  });
});

describe("runtime", () => {
  it("recycles pooled buffers only after the submit that used them", async () => {
    const rt = T.rt();
    await T.flush();
    const x = T.tensor(Array.from({ length: 1000 }, (_, i) => i));
    const y = T.scale(x, 2);
    const buffer = x.storage.buffer;
    x.dispose();
    // Not submitted yet: a new allocation of the same size must not reuse x's buffer.
    const z = T.tensor(new Array(1000).fill(7));
    expect(z.storage.buffer).not.toBe(buffer);
    await T.flush();
    const reused = T.empty([1000]);
    expect(reused.storage.buffer).toBe(buffer);
    expectClose(
      await y.toArray(),
      Array.from({ length: 1000 }, (_, i) => 2 * i),
    );
    expectClose(await z.toArray(), new Array(1000).fill(7));
    expect(rt.stats.pipelines).toBeGreaterThan(0);
  });

  /** Runs `fn` with an empty cache and the pool's budget `bytes` above what is live now. */
  async function withBudget(bytes: number, fn: (pool: T.BufferPool) => Promise<void> | void): Promise<void> {
    const pool = T.rt().pool;
    await T.flush();
    pool.trim();
    const budget = pool.budgetBytes;
    try {
      pool.budgetBytes = pool.stats.liveBytes + bytes;
      await fn(pool);
    } finally {
      pool.budgetBytes = budget;
    }
  }

  it("past its budget the pool destroys cached buffers (only as many as needed) before creating one", () =>
    // Two 64 KiB buffers in the cache; a new 128 KiB one would take the pool to 256 KiB, past its 192 KiB:
    // one cached buffer goes, the other stays.
    withBudget(192 * 1024, async (pool) => {
      const cached = [T.empty([16384]), T.empty([16384])];
      for (const t of cached) t.dispose();
      await T.flush();
      expect(pool.stats.cachedBytes).toBe(2 * 65536);
      const trims = pool.stats.trims;
      const big = T.empty([32768]);
      expect(pool.stats.trims).toBe(trims + 1);
      expect(pool.stats.cachedBytes).toBe(65536);
      expect(pool.stats.liveBytes + pool.stats.cachedBytes).toBeLessThanOrEqual(pool.budgetBytes);
      // Within the budget nothing is trimmed, and cached buffers of the same size are reused.
      big.dispose();
      await T.flush();
      const again = T.empty([32768]);
      expect(pool.stats.trims).toBe(trims + 1);
      again.dispose();
    }));

  it("past its budget, with every cached buffer waiting for its batch, the pool has the runtime submit first", () =>
    withBudget(192 * 1024, (pool) => {
      // Two 64 KiB results of recorded work, freed before their batch is submitted: parked, not reusable yet.
      const x = T.fill([16384], 2);
      const y = T.mul(x, 3);
      x.dispose();
      y.dispose();
      expect(pool.stats.cachedBytes).toBe(2 * 65536);
      const submits = T.rt().stats.submits;
      const big = T.empty([32768]);
      // The batch was submitted, then one cached buffer destroyed: the pool stays within its budget.
      expect(T.rt().stats.submits).toBe(submits + 1);
      expect(pool.stats.cachedBytes).toBe(65536);
      expect(pool.stats.liveBytes + pool.stats.cachedBytes).toBeLessThanOrEqual(pool.budgetBytes);
      big.dispose();
    }));

  it("under a budget a batch never waits for a pipeline: it compiles synchronously and submits at once", async () => {
    const runtime = T.rt();
    const pool = runtime.pool;
    await T.flush();
    const budget = pool.budgetBytes;
    const x = T.fill([777], 1.5);
    await T.flush();
    try {
      // A new pipeline (the constant is baked into the WGSL): without a budget the batch waits for its compile.
      const a = T.add(x, 0.1234567);
      const before = runtime.stats.submits;
      const waiting = T.flush();
      expect(runtime.stats.submits).toBe(before);
      await waiting;
      pool.budgetBytes = pool.stats.liveBytes + 2 ** 30;
      const b = T.add(x, 0.7654321);
      void T.flush();
      expect(runtime.stats.submits).toBe(before + 2);
      expectClose(await b.toArray(), new Array(777).fill(1.5 + 0.7654321));
      expectClose(await a.toArray(), new Array(777).fill(1.5 + 0.1234567));
      for (const t of [a, b]) t.dispose();
    } finally {
      pool.budgetBytes = budget;
      x.dispose();
    }
  });

  it("backward frees each rule's temporaries before the next rule runs", async () => {
    // Eight RMSNorms: each backward rule makes four row-sized temporaries. Held until the pass ended, they
    // would be 8 × 4 tensors at the pass's peak; freed per rule, a handful.
    const pool = T.rt().pool;
    const x = T.tensor(
      Array.from({ length: 64 * 256 }, (_, i) => Math.sin(i)),
      [64, 256],
    );
    x.requiresGrad = true;
    const bytes = 64 * 256 * 4;
    let y = x;
    const chain: T.Tensor[] = [];
    for (let i = 0; i < 8; i++) {
      y = T.rmsNorm(y);
      chain.push(y);
    }
    const loss = T.sum(y);
    await T.flush();
    pool.resetPeak();
    const before = pool.stats.liveBytes;
    T.backward(loss);
    expect(pool.stats.peakLiveBytes - before).toBeLessThan(8 * bytes);
    expect(x.grad).toBeDefined();
    for (const t of [x, loss, ...chain]) t.dispose();
    x.grad?.dispose();
  });

  it("scope disposes intermediates and keeps the result", () => {
    let inner: T.Tensor | undefined;
    const out = T.scope(() => {
      inner = T.tensor([1, 2]);
      return { y: T.add(inner, 1) };
    });
    expect(inner!.isDisposed).toBe(true);
    expect(out.y.isDisposed).toBe(false);
    expect(() => T.add(inner!, 1)).toThrow(/disposed/);
  });

  it("works on slices of a tensor larger than one storage binding through binding windows", async () => {
    const limit = T.rt().gpu.info.limits.maxStorageBufferBindingSize!;
    if (limit > 256 * 2 ** 20) return; // only cheap where the limit is small (lavapipe: 128 MiB)
    const cols = 1024;
    const rows = Math.ceil(limit / 4 / cols) + 64; // just past the limit
    const big = T.empty([rows, cols]);
    const half = Math.floor(rows / 2);
    T.mapInto("f32(e % 7u)", [], T.slice(big, 0, 0, half));
    T.mapInto("1.0 + f32(e % 5u)", [], T.slice(big, 0, half));
    // The last rows lie beyond the first binding window: reductions, copies and matmul read them.
    const tail = T.slice(big, 0, rows - 3);
    const want = Array.from({ length: 3 * cols }, (_, i) => 1 + (((rows - 3 - half) * cols + i) % 5));
    expectClose(await T.contiguous(tail).toArray(), want, 0, 0);
    const rowSums = await T.sum(tail, 1).toArray();
    expectClose(
      rowSums,
      [0, 1, 2].map((r) => want.slice(r * cols, (r + 1) * cols).reduce((a, b) => a + b, 0)),
    );
    const ones = T.fill([cols, 1], 1);
    expectClose(await T.matmul(tail, ones).toArray(), rowSums, 1e-3, 1e-6);
    const tailNorm = ref.rmsNorm(ref.nd(want, [3, cols]), undefined, 1e-6);
    expectClose(await T.rmsNorm(tail).toArray(), tailNorm.data, 1e-5, 1e-4);
    const heads = (t: T.Tensor) => T.permute(T.reshape(t, [1, 3, 8, 128]), [0, 2, 1, 3]);
    const copy = T.contiguous(tail);
    expectClose(
      await T.attention(heads(tail), heads(tail), heads(tail)).toArray(),
      await T.attention(heads(copy), heads(copy), heads(copy)).toArray(),
      0,
      0,
    );
    // A single op over the whole tensor cannot be bound and says so.
    expect(() => T.scale(big, 2)).toThrow(/maxStorageBufferBindingSize/);
    big.dispose();
  });

  it("folds grids above 65535 workgroups", async () => {
    const n = 65536 * 256 + 3;
    const y = T.fill([n], 3);
    const s = T.sum(y);
    expectClose([await s.item()], [3 * n], 0, 1e-5);
  });
});

describe("tape memory", () => {
  it("does not save the input activation of a frozen weight's matmul", () => {
    const x = T.tensor([1, 2, 3, 4], [2, 2]).trainable();
    const frozen = T.tensor([1, 0, 0, 1], [2, 2]);
    const y = T.matmul(x, frozen);
    // dX = g·Wᵀ needs only W; x itself is not retained.
    expect(y.node!.saved.map((t) => t.storage)).toEqual([frozen.storage]);
    const lora = T.tensor([1, 0, 0, 1], [2, 2]).trainable();
    const z = T.matmul(T.tensor([1, 2, 3, 4], [2, 2]), lora);
    expect(z.node!.saved).toHaveLength(1);
    const m = T.mul(x, frozen);
    expect(m.node!.saved.map((t) => t.storage)).toEqual([frozen.storage]);
  });
});
