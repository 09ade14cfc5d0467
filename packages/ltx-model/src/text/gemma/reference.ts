import { type ComponentWeights, param } from "../../vae/component-weights.js";
import { add, type HostTensor, hostTensor } from "../../vae/reference/tensor.js";
import { geluTanh, linear, rmsNorm } from "../reference/ops.js";
import { type GemmaConfig, gemmaRopeTables } from "./config.js";

/** Gemma's RMSNorm scales by (1 + weight). */
function gemmaNorm(x: HostTensor, weight: HostTensor, eps: number): HostTensor {
  return rmsNorm(
    x,
    eps,
    hostTensor(
      [...weight.shape],
      weight.data.map((w) => 1 + w),
    ),
  );
}

/** Whether query i may attend key j: causal, key not padding, and within the window on sliding layers. */
export function gemmaKeyAllowed(
  mask: Float32Array,
  row: number,
  t: number,
  i: number,
  j: number,
  window: number,
): boolean {
  return j <= i && mask[row * t + j] !== 0 && i - j < window;
}

function rotateHalves(x: HostTensor, heads: number, hd: number, cos: Float32Array, sin: Float32Array): void {
  const [b, t] = x.shape as [number, number];
  const half = hd / 2;
  for (let n = 0; n < b; n++)
    for (let i = 0; i < t; i++)
      for (let h = 0; h < heads; h++) {
        const base = ((n * t + i) * heads + h) * hd;
        for (let j = 0; j < half; j++) {
          const [c, s] = [cos[i * half + j]!, sin[i * half + j]!];
          const [x1, x2] = [x.data[base + j]!, x.data[base + half + j]!];
          x.data[base + j] = x1 * c - x2 * s;
          x.data[base + half + j] = x2 * c + x1 * s;
        }
      }
}

/**
 * The Gemma 3 text decoder on the CPU (float64 accumulation), returning every hidden state stacked
 * last: [B, T, D, L], L = layers + 1 (embeddings, each layer's output, the last one after the final
 * norm, as transformers' `output_hidden_states`). Positions are 0..T-1 whatever the padding, as a
 * plain forward call gives them. Rows of padding tokens attend to nothing and come out as zeros
 * before their residuals (they are meaningless; the feature extractor zeroes them).
 */
export function gemmaHiddenStatesReference(
  ids: Int32Array,
  mask: Float32Array,
  batch: number,
  config: GemmaConfig,
  weights: ComponentWeights,
): HostTensor {
  const t = ids.length / batch;
  const { hiddenSize: d, numHeads: heads, numKvHeads: kvHeads, headDim: hd, rmsNormEps: eps } = config;
  const layers = config.numLayers;
  const states = hostTensor([batch, t, d, layers + 1]);
  const record = (x: HostTensor, l: number) => {
    for (let r = 0; r < batch * t; r++)
      for (let k = 0; k < d; k++) states.data[(r * d + k) * (layers + 1) + l] = x.data[r * d + k]!;
  };
  const embed = param(weights, "embed_tokens.weight");
  const scale = Math.fround(Math.sqrt(d));
  let x = hostTensor([batch, t, d]);
  for (let r = 0; r < batch * t; r++) {
    for (let k = 0; k < d; k++) x.data[r * d + k] = embed.data[ids[r]! * d + k]! * scale;
  }
  record(x, 0);
  const attnScale = config.queryPreAttnScalar ** -0.5;
  for (let l = 0; l < layers; l++) {
    const w = (key: string) => param(weights, `layers.${l}.${key}`);
    const rope = gemmaRopeTables(config, t, config.sliding[l]!);
    const window = config.sliding[l] ? config.slidingWindow : Number.POSITIVE_INFINITY;
    const h = gemmaNorm(x, w("input_layernorm.weight"), eps);
    const q = gemmaNorm(
      hostTensor([batch, t, heads, hd], linear(h, w("self_attn.q_proj.weight")).data),
      w("self_attn.q_norm.weight"),
      eps,
    );
    const k = gemmaNorm(
      hostTensor([batch, t, kvHeads, hd], linear(h, w("self_attn.k_proj.weight")).data),
      w("self_attn.k_norm.weight"),
      eps,
    );
    const v = linear(h, w("self_attn.v_proj.weight"));
    rotateHalves(q, heads, hd, rope.cos, rope.sin);
    rotateHalves(k, kvHeads, hd, rope.cos, rope.sin);
    const attn = hostTensor([batch, t, heads * hd]);
    const scores = new Float64Array(t);
    for (let n = 0; n < batch; n++)
      for (let head = 0; head < heads; head++) {
        const kh = Math.floor(head / (heads / kvHeads));
        for (let i = 0; i < t; i++) {
          const qo = ((n * t + i) * heads + head) * hd;
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j < t; j++) {
            if (!gemmaKeyAllowed(mask, n, t, i, j, window)) continue;
            const ko = ((n * t + j) * kvHeads + kh) * hd;
            let s = 0;
            for (let e = 0; e < hd; e++) s += q.data[qo + e]! * k.data[ko + e]!;
            scores[j] = s * attnScale;
            max = Math.max(max, scores[j]!);
          }
          if (max === Number.NEGATIVE_INFINITY) continue;
          let sum = 0;
          for (let j = 0; j < t; j++) {
            if (!gemmaKeyAllowed(mask, n, t, i, j, window)) continue;
            scores[j] = Math.exp(scores[j]! - max);
            sum += scores[j]!;
          }
          for (let e = 0; e < hd; e++) {
            let acc = 0;
            for (let j = 0; j < t; j++) {
              if (gemmaKeyAllowed(mask, n, t, i, j, window))
                acc += scores[j]! * v.data[((n * t + j) * kvHeads + kh) * hd + e]!;
            }
            attn.data[((n * t + i) * heads + head) * hd + e] = acc / sum;
          }
        }
      }
    x = add(x, gemmaNorm(linear(attn, w("self_attn.o_proj.weight")), w("post_attention_layernorm.weight"), eps));
    const f = gemmaNorm(x, w("pre_feedforward_layernorm.weight"), eps);
    const gate = geluTanh(linear(f, w("mlp.gate_proj.weight")));
    const up = linear(f, w("mlp.up_proj.weight"));
    for (let i = 0; i < gate.data.length; i++) gate.data[i] = gate.data[i]! * up.data[i]!;
    x = add(x, gemmaNorm(linear(gate, w("mlp.down_proj.weight")), w("post_feedforward_layernorm.weight"), eps));
    record(l === layers - 1 ? gemmaNorm(x, param(weights, "norm.weight"), eps) : x, l + 1);
  }
  return states;
}
