import { describe, expect, it } from "vitest";
import { a2vTrainingTokens, maskedMse } from "../src/index.js";
import { goldenSet, maxAbsDiff, readGolden } from "./golden.js";

const dir = goldenSet("transformer_a2v");

describe.skipIf(!dir)("golden parity: a2v training inputs and loss", async () => {
  const t = dir ? await readGolden(`${dir}/tensors.safetensors`) : new Map<string, Float32Array>();
  it("noisy tokens, targets, timesteps, loss mask and the masked MSE", () => {
    const tokens = t.get("video_tokens")!;
    const timestepsGolden = t.get("video_timesteps")!;
    const tokensPerFrame = timestepsGolden.findIndex((x) => x !== 0);
    const r = a2vTrainingTokens(tokens, t.get("noise")!, t.get("sigma")![0]!, { tokensPerFrame, channels: 128 });
    expect(maxAbsDiff(r.noisy, t.get("video_noisy")!)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(r.targets, t.get("video_targets")!)).toBeLessThanOrEqual(1e-6);
    expect(Array.from(r.timesteps)).toEqual(Array.from(timestepsGolden));
    expect(Array.from(r.lossMask)).toEqual(Array.from(t.get("loss_mask")!));
    expect(maskedMse(t.get("video_pred")!, r.targets, r.lossMask, 128)).toBeCloseTo(t.get("loss")![0]!, 5);
    expect(maskedMse(t.get("video_pred_lora")!, r.targets, r.lossMask, 128)).toBeCloseTo(t.get("loss_lora")![0]!, 5);
  });
});

describe("a2vTrainingTokens", () => {
  const clean = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const noise = Float32Array.from([0, 0, 1, 1, -1, -1]);
  it("keeps the first frame clean at timestep 0 and out of the loss", () => {
    const r = a2vTrainingTokens(clean, noise, 0.5, { tokensPerFrame: 1, channels: 2 });
    expect(Array.from(r.noisy)).toEqual([1, 2, 2, 2.5, 2, 2.5]);
    expect(Array.from(r.targets)).toEqual([-1, -2, -2, -3, -6, -7]);
    expect(Array.from(r.timesteps)).toEqual([0, 0.5, 0.5]);
    expect(Array.from(r.lossMask)).toEqual([0, 1, 1]);
  });
  it("can train without first-frame conditioning, and rejects mismatched shapes", () => {
    const r = a2vTrainingTokens(clean, noise, 1, { tokensPerFrame: 1, channels: 2, conditionFirstFrame: false });
    expect(Array.from(r.noisy)).toEqual(Array.from(noise));
    expect(() => a2vTrainingTokens(clean, noise.subarray(1), 1, { tokensPerFrame: 1, channels: 2 })).toThrow(
      expect.objectContaining({ name: "A2VError", code: "latent_shape_mismatch" }),
    );
  });
  it("masked MSE ignores masked tokens and is 0 with none left", () => {
    const pred = Float32Array.from([9, 9, 1, 1]);
    const target = Float32Array.from([0, 0, 0, 2]);
    expect(maskedMse(pred, target, Float32Array.from([0, 1]), 2)).toBe(1);
    expect(maskedMse(pred, target, Float32Array.from([0, 0]), 2)).toBe(0);
  });
});
