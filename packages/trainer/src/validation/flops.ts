import { audioInnerDim, type LtxTransformerConfig, videoInnerDim } from "@a2v/ltx-model";

export interface PreviewFlopsOptions {
  videoTokens: number;
  audioTokens: number;
  /** Text context length (upstream pads prompts to 1024). */
  textTokens?: number;
  steps?: number;
  /** Guidance passes per step: CFG (negative prompt), STG, modality isolation (default: all three, as upstream). */
  cfg?: boolean;
  stg?: boolean;
  modality?: boolean;
}

export interface PreviewFlops {
  /** Multiply-adds × 2 of one full transformer forward (every block, both streams, A↔V cross-attention). */
  fullPass: number;
  /** The STG pass (one block's video self-attention is its value projection: no q/k, no scores). */
  stgPass: number;
  /** The modality-isolation pass (no A↔V cross-attention in any block). */
  modalityPass: number;
  perStep: number;
  total: number;
}

/**
 * Transformer FLOPs (2 per multiply-add; matmuls and attention only: norms, RoPE, AdaLN and the element-wise guidance
 * are below 1 %) of one guided validation preview, from the config: what `ValidationSampler.sample` runs per step.
 */
export function previewFlops(config: LtxTransformerConfig, options: PreviewFlopsOptions): PreviewFlops {
  const tv = options.videoTokens;
  const ta = options.audioTokens;
  const l = options.textTokens ?? 1024;
  const dv = videoInnerDim(config);
  const da = audioInnerDim(config);
  const ctxV = config.crossAttentionDim;
  const ctxA = config.audioCrossAttentionDim;
  const ffV = 4 * dv;
  const ffA = 4 * da;
  const hv = config.numAttentionHeads;
  const ha = config.audioNumAttentionHeads;
  const gate = config.applyGatedAttention ? 1 : 0;
  const mm = (m: number, k: number, n: number) => 2 * m * k * n;
  // Self-attention over n tokens of width d (q, k, v, out, scores, weighted sum, per-head gate).
  const selfAttention = (n: number, d: number, heads: number) =>
    4 * mm(n, d, d) + 2 * mm(n, d, n) + gate * mm(n, d, heads);
  const selfAttentionStg = (n: number, d: number, heads: number) => 2 * mm(n, d, d) + gate * mm(n, d, heads);
  const textAttention = (n: number, d: number, ctx: number, heads: number) =>
    2 * mm(n, d, d) + 2 * mm(l, ctx, d) + 2 * mm(n, d, l) + gate * mm(n, d, heads);
  const ff = (n: number, d: number, inner: number) => 2 * mm(n, d, inner);
  // A↔V attention runs at the audio width (inner = da): a2v queries video, v2a queries audio.
  const a2v = mm(tv, dv, da) + 2 * mm(ta, da, da) + 2 * mm(tv, da, ta) + mm(tv, da, dv) + gate * mm(tv, dv, ha);
  const v2a = mm(ta, da, da) + 2 * mm(tv, dv, da) + 2 * mm(ta, da, tv) + mm(ta, da, da) + gate * mm(ta, da, ha);
  const streams =
    textAttention(tv, dv, ctxV, hv) + ff(tv, dv, ffV) + selfAttention(ta, da, ha) + textAttention(ta, da, ctxA, ha);
  const io = mm(tv, config.inChannels, dv) + mm(tv, dv, config.outChannels);
  const audioIo = mm(ta, config.audioInChannels, da) + mm(ta, da, config.audioOutChannels);
  const block = selfAttention(tv, dv, hv) + streams + a2v + v2a + ff(ta, da, ffA);
  const layers = config.numLayers;
  const fullPass = layers * block + io + audioIo;
  const stgPass = fullPass - selfAttention(tv, dv, hv) + selfAttentionStg(tv, dv, hv);
  const modalityPass = fullPass - layers * (a2v + v2a);
  const cfg = options.cfg ?? true;
  const stg = options.stg ?? true;
  const modality = options.modality ?? true;
  const perStep = fullPass * (cfg ? 2 : 1) + (stg ? stgPass : 0) + (modality ? modalityPass : 0);
  const steps = options.steps ?? 30;
  return { fullPass, stgPass, modalityPass, perStep, total: perStep * steps };
}
