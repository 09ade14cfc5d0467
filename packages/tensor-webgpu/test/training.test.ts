import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { rand } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("end to end", () => {
  it("a checkpointed attention block with LoRA on frozen bf16 weights learns a target with AdamW", async () => {
    const [tokens, dim, heads, rank, scale] = [8, 16, 2, 4, 1];
    const frozen = (seed: number) =>
      T.tensor(
        rand(dim * dim, seed).map((v) => v * 0.3),
        [dim, dim],
        "bf16",
      );
    const [wq, wk, wv, wo] = [1, 2, 3, 4].map(frozen);
    const x = T.tensor(rand(tokens * dim, 5), [1, tokens, dim]);
    const block = (lora: T.Tensor[]) => (h0: T.Tensor) =>
      T.scope(() => {
        const h = T.rmsNorm(h0);
        const q = T.loraLinear(h, wq!, undefined, lora[0]!, lora[1]!, scale);
        const k = T.linear(h, wk!);
        const v = T.loraLinear(h, wv!, undefined, lora[2]!, lora[3]!, scale);
        const split = (t: T.Tensor) => T.permute(T.reshape(t, [1, tokens, heads, dim / heads]), [0, 2, 1, 3]);
        const o = T.attention(split(q), split(k), split(v));
        const merged = T.reshape(T.permute(o, [0, 2, 1, 3]), [1, tokens, dim]);
        return T.add(h0, T.linear(merged, wo!));
      });
    const loraShapes = [
      [rank, dim],
      [dim, rank],
      [rank, dim],
      [dim, rank],
    ];
    const truth = loraShapes.map((s, i) =>
      T.tensor(
        rand(s[0]! * s[1]!, 10 + i).map((v) => v * 0.5),
        s,
      ),
    );
    const target = T.noGrad(() => block(truth)(x));
    // Standard LoRA init: A random, B zero.
    const params = loraShapes.map((s, i) =>
      T.tensor(
        i % 2 ? new Array(s[0]! * s[1]!).fill(0) : rand(s[0]! * s[1]!, 20 + i).map((v) => v * 0.3),
        s,
      ).trainable(),
    );
    const opt = new T.AdamW(params, { lr: 0.03, weightDecay: 0, maxGradNorm: 1 });
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) {
      const loss = T.scope(() => T.mseLoss(T.checkpoint(block(params), x), target));
      T.backward(loss);
      losses.push(await loss.item());
      loss.dispose();
      opt.step();
      opt.zeroGrad();
    }
    expect(wq!.grad).toBeUndefined();
    expect(losses[losses.length - 1]).toBeLessThan(0.3 * losses[0]!);
  });
});
