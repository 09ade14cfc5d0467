import { A2VError } from "@a2v/errors";
import { type ComponentWeights, param } from "../../vae/component-weights.js";
import { type HostTensor, hostTensor } from "../../vae/reference/tensor.js";
import { linear } from "./ops.js";

/**
 * Feature extractor V2's normalisation: per token and per hidden state `x · rsqrt(mean_D(x²) + 1e-6)`,
 * flattened to [B, T, D·L] (index d·L + l), padded tokens zeroed.
 * `hiddenStates` is [B, T, D, L] (states stacked last, index 0 = embeddings); `mask` is [B, T] 0/1.
 */
export function normalizeHiddenStates(hiddenStates: HostTensor, mask: HostTensor): HostTensor {
  const [b, t, d, l] = hiddenStates.shape as [number, number, number, number];
  const out = new Float32Array(hiddenStates.data.length);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < t; i++) {
      if (mask.data[n * t + i] === 0) continue;
      const base = (n * t + i) * d * l;
      for (let k = 0; k < l; k++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += hiddenStates.data[base + j * l + k]! ** 2;
        const inv = 1 / Math.sqrt(s / d + 1e-6);
        for (let j = 0; j < d; j++) out[base + j * l + k] = hiddenStates.data[base + j * l + k]! * inv;
      }
    }
  }
  return hostTensor([b, t, d * l], out);
}

function scaled(x: HostTensor, factor: number): HostTensor {
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i]! * factor;
  return hostTensor([...x.shape], out);
}

/**
 * `FeatureExtractorV2`: Gemma hidden states -> the caption features the trainer caches,
 * video [B, T, videoDim] and audio [B, T, audioDim], each `W(n · sqrt(out/D)) + b`.
 */
export function extractFeaturesReference(
  hiddenStates: HostTensor,
  mask: HostTensor,
  weights: ComponentWeights,
): { normed: HostTensor; video: HostTensor; audio: HostTensor } {
  const [, , d, l] = hiddenStates.shape as [number, number, number, number];
  const normed = normalizeHiddenStates(hiddenStates, mask);
  const project = (name: "video" | "audio") => {
    const w = param(weights, `feature_extractor.${name}_aggregate_embed.weight`);
    const [out, inp] = w.shape as [number, number];
    if (inp !== d * l) {
      throw new A2VError(
        "text_features_shape",
        `${name}_aggregate_embed expects ${inp} features; hidden states give ${d}×${l} = ${d * l}`,
        { status: 422 },
      );
    }
    return linear(
      scaled(normed, Math.sqrt(out / d)),
      w,
      param(weights, `feature_extractor.${name}_aggregate_embed.bias`),
    );
  };
  return { normed, video: project("video"), audio: project("audio") };
}
