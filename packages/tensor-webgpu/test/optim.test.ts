import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { expectClose, rand } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

/** Reference AdamW (PyTorch semantics) with global-norm clipping, f64. */
function cpuAdamW(
  params: Float64Array[],
  gradsPerStep: Float64Array[][],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; maxNorm?: number },
): Float64Array[] {
  const p = params.map((x) => Float64Array.from(x));
  const m = p.map((x) => new Float64Array(x.length));
  const v = p.map((x) => new Float64Array(x.length));
  gradsPerStep.forEach((grads, s) => {
    const t = s + 1;
    let clip = 1;
    if (o.maxNorm !== undefined) {
      const norm = Math.sqrt(grads.reduce((a, g) => a + g.reduce((b, x) => b + x * x, 0), 0));
      if (norm > o.maxNorm) clip = o.maxNorm / (norm + 1e-6);
    }
    p.forEach((x, k) => {
      for (let i = 0; i < x.length; i++) {
        const g = grads[k]![i]! * clip;
        m[k]![i] = o.b1 * m[k]![i]! + (1 - o.b1) * g;
        v[k]![i] = o.b2 * v[k]![i]! + (1 - o.b2) * g * g;
        const mh = m[k]![i]! / (1 - o.b1 ** t);
        const vh = v[k]![i]! / (1 - o.b2 ** t);
        x[i] = x[i]! * (1 - o.lr * o.wd) - (o.lr * mh) / (Math.sqrt(vh) + o.eps);
      }
    });
  });
  return p;
}

describe("AdamW", () => {
  for (const maxNorm of [undefined, 0.5]) {
    it(`three fused steps match the reference${maxNorm ? " with global-norm clipping" : ""}`, async () => {
      const shapes = [[3, 4], [5], [2, 2, 2]];
      const init = shapes.map((s, i) =>
        rand(
          s.reduce((a, b) => a * b, 1),
          10 + i,
        ),
      );
      const params = init.map((d, i) => T.tensor(d, shapes[i]!).trainable());
      const opts = { lr: 0.01, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0.1, maxNorm };
      const opt = new T.AdamW(params, {
        lr: opts.lr,
        beta1: opts.b1,
        beta2: opts.b2,
        eps: opts.eps,
        weightDecay: opts.wd,
        ...(maxNorm !== undefined ? { maxGradNorm: maxNorm } : {}),
      });
      const gradsPerStep: Float64Array[][] = [];
      for (let s = 0; s < 3; s++) {
        // loss = Σ_k Σ p_k² · c_k, so grad = 2·c_k·p_k; read the GPU grads to feed the reference.
        const loss = T.scope(() => {
          const terms = params.map((p, k) => T.sum(T.scale(T.mul(p, p), k + 1)));
          return terms.reduce((a, b) => T.add(a, b));
        });
        T.backward(loss);
        loss.dispose();
        gradsPerStep.push(await Promise.all(params.map(async (p) => Float64Array.from(await p.grad!.toArray()))));
        opt.step();
        opt.zeroGrad();
      }
      const want = cpuAdamW(init, gradsPerStep, opts);
      for (let k = 0; k < params.length; k++) expectClose(await params[k]!.toArray(), want[k]!, 1e-6, 1e-5);
      if (maxNorm) expect(await opt.lastNormSq!.item()).toBeGreaterThan(maxNorm ** 2);
      opt.dispose();
    });
  }

  it("learning-rate schedules warm up linearly and decay to minLr", () => {
    const base = { lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 };
    expect(T.learningRate({ ...base, kind: "constant" }, 0)).toBeCloseTo(0.1);
    expect(T.learningRate({ ...base, kind: "constant" }, 9)).toBeCloseTo(1);
    expect(T.learningRate({ ...base, kind: "constant" }, 50)).toBe(1);
    expect(T.learningRate({ ...base, kind: "linear" }, 60)).toBeCloseTo(0.55);
    expect(T.learningRate({ ...base, kind: "cosine" }, 60)).toBeCloseTo(0.55);
    expect(T.learningRate({ ...base, kind: "cosine" }, 35)).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos(Math.PI / 4)));
    expect(T.learningRate({ ...base, kind: "cosine" }, 500)).toBeCloseTo(0.1);
  });
});
