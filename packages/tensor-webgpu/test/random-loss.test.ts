import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, gpu, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("random", () => {
  it("uniform draws match the CPU generator bit for bit and are reproducible", async () => {
    const u = await T.rand([1000], 42, 3).toArray();
    expectClose(
      u,
      Array.from({ length: 1000 }, (_, e) => ref.randUnit(e, 42, 3)),
      0,
      0,
    );
    expectClose(await T.rand([1000], 42, 3).toArray(), u, 0, 0);
    const other = await T.rand([1000], 43, 3).toArray();
    expect(other.some((v, i) => v !== u[i])).toBe(true);
  });

  it("normal draws match the CPU generator and have standard moments", async () => {
    const n = 20000;
    const z = (await T.randn([n], 7).toArray()) as Float32Array;
    expectClose(
      z.subarray(0, 500),
      Array.from({ length: 500 }, (_, e) => ref.randNormal(e, 7, 0)),
      1e-4,
      1e-4,
    );
    const m = z.reduce((a, v) => a + v, 0) / n;
    const v = z.reduce((a, x) => a + (x - m) ** 2, 0) / n;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.05);
  });
});

describe("mseLoss", () => {
  it("plain and masked, with gradients", async () => {
    const p = randNd([2, 3, 4], 1);
    const t = randNd([2, 3, 4], 2);
    const mask = ref.nd([1, 0, 1], [1, 3, 1]);
    const f = (xs: ref.Nd[], m?: ref.Nd): number => {
      const sq = ref.zip([xs[0]!, xs[1]!], (a, b) => (a - b) ** 2);
      if (!m) return sq.data.reduce((a, v) => a + v, 0) / sq.data.length;
      const w = ref.zip([sq, m], (a, b) => a * b);
      const den = ref.zip([m, sq], (a) => a).data.reduce((a, v) => a + v, 0);
      return w.data.reduce((a, v) => a + v, 0) / den;
    };
    for (const m of [undefined, mask]) {
      const pg = gpu(p, true);
      const tg = gpu(t, true);
      const loss = T.mseLoss(pg, tg, m ? gpu(m) : undefined);
      expectClose([await loss.item()], [f([p, t], m)], 1e-6, 1e-5);
      T.backward(loss);
      expectClose(
        await pg.grad!.toArray(),
        ref.numericGrad((xs) => f(xs, m), [p, t], 0),
        1e-5,
        1e-4,
      );
      expectClose(
        await tg.grad!.toArray(),
        ref.numericGrad((xs) => f(xs, m), [p, t], 1),
        1e-5,
        1e-4,
      );
    }
  });
});
