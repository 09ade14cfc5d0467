import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as T from "../src/index.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("Tensor.write", () => {
  it("writes into a GPU tensor at its offset, after the ops recorded before it", async () => {
    const t = T.fill([6], 7); // recorded, not yet submitted: the write must land after it
    const tail = t.view([4], [1], 2);
    expect(tail.write([1, 2, 3, 4])).toBe(tail);
    const doubled = T.mul(t, 2); // recorded after the write: sees the new values
    expect(Array.from(await t.toArray())).toEqual([7, 7, 1, 2, 3, 4]);
    expect(Array.from(await doubled.toArray())).toEqual([14, 14, 2, 4, 6, 8]);
    for (const x of [t, tail, doubled]) x.dispose();
  });

  it("converts to the dtype like tensor() (bf16 rounds; raw bits pass through)", async () => {
    const t = T.zeros([4], "bf16");
    t.write([1 + 2 ** -8, -2.5, 3, 0.1]);
    expect(Array.from(await t.toArray())).toEqual(Array.from(T.bf16BitsToF32(T.f32ToBf16Bits([1, -2.5, 3, 0.1]))));
    t.write(T.f32ToBf16Bits([5, 6, 7, 8]));
    expect(Array.from(await t.toArray())).toEqual([5, 6, 7, 8]);
    t.dispose();
  });

  it("refuses partial words, strided views and a wrong count", () => {
    const t = T.zeros([4, 2], "bf16");
    expect(() => t.view([3], [1], 1).write([1, 2, 3])).toThrow(/4-byte words/);
    expect(() => t.view([4], [2], 0).write([1, 2, 3, 4])).toThrow(/not contiguous/);
    expect(() => t.write([1])).toThrow(/1 values/);
    t.dispose();
  });

  it("writes into a CPU tensor's host values", async () => {
    const t = T.fill([5], 1, "f32", "cpu");
    t.view([2], [1], 3).write([0.1, 0.2]);
    expect(Array.from(t.host)).toEqual([1, 1, 1, 0.1, 0.2]);
    const h = T.zeros([2], "f16", "cpu").write([0.1, 70000]);
    expect(Array.from(await h.toArray())).toEqual([T.f16BitsToF32(T.f32ToF16Bits([0.1]))[0], Number.POSITIVE_INFINITY]);
  });
});

describe("Tensor.toArray of strided GPU views", () => {
  it("reads the span a view covers and picks its elements out (transposed, sliced, broadcast, bf16 halves)", async () => {
    const values = Array.from({ length: 12 }, (_, i) => i - 3.5);
    const t = T.tensor(values, [3, 4]);
    const tr = t.view([4, 3], [1, 4], 0);
    expect(Array.from(await tr.toArray())).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11].map((i) => values[i]));
    const col = t.view([3], [4], 2);
    expect(Array.from(await col.toArray())).toEqual([values[2], values[6], values[10]]);
    const wide = t.view([2, 3], [0, 1], 5);
    expect(Array.from(await wide.toArray())).toEqual([5, 6, 7, 5, 6, 7].map((i) => values[i]));
    const b = T.tensor(values, [12], "bf16");
    expect(Array.from(await b.view([3], [3], 1).toArray())).toEqual([1, 4, 7].map((i) => values[i]));
    expect(Array.from(await t.view([0, 4], [4, 1], 0).toArray())).toEqual([]);
    for (const x of [t, tr, col, wide, b]) x.dispose();
  });
});
