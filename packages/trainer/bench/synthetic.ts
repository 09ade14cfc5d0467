import { type LtxTransformerConfig, numel, transformerParameters } from "@a2v/ltx-model";
import type { WeightSource } from "@a2v/ltx-model/weights";
import { type A2VPreparedStep, prepareA2VStep } from "../src/strategy.js";

/** Deterministic weights generated on read, so a full-width block never sits in host memory whole. */
export function syntheticWeights(config: LtxTransformerConfig): WeightSource {
  const shapes = new Map(transformerParameters(config).map((p) => [p.key, p.shape]));
  return {
    shape: (key) => shapes.get(key),
    readFloat32: async (key) => {
      const shape = shapes.get(key)!;
      const out = new Float32Array(numel(shape));
      const fanIn = shape.length === 2 ? shape[1]! : 1;
      // Norm weights near 1, tables and linears ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch init.
      const bound = key.endsWith("norm.weight") ? 0 : 1 / Math.sqrt(fanIn);
      let s = key.length * 2654435761;
      for (let i = 0; i < out.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        out[i] = (key.endsWith("norm.weight") ? 1 : 0) + ((s / 4294967296) * 2 - 1) * bound;
      }
      return out;
    },
  };
}

export function syntheticStep(
  config: LtxTransformerConfig,
  grid: { frames: number; height: number; width: number },
  audioTokens: number,
): A2VPreparedStep {
  const tokens = grid.frames * grid.height * grid.width;
  const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k));
  return prepareA2VStep(config, {
    videoClean: wave(tokens * config.inChannels, 0.37),
    noise: wave(tokens * config.inChannels, 0.91),
    sigma: 0.6,
    grid,
    fps: 24,
    audioClean: wave(audioTokens * config.audioInChannels, 0.13),
    videoContext: wave(8 * config.crossAttentionDim, 0.07),
    audioContext: wave(8 * config.audioCrossAttentionDim, 0.05),
  });
}
