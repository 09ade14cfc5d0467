import { A2VError } from "@a2v/errors";
import { type RopeTables, splitRopeTables } from "../../embeddings.js";
import { type ComponentWeights, param } from "../../vae/component-weights.js";
import { add, type HostTensor, hostTensor } from "../../vae/reference/tensor.js";
import type { Trace } from "../../vae/reference/video-vae.js";
import type { ConnectorConfig } from "../config.js";
import { geluTanh, linear, rmsNorm } from "./ops.js";

const EPS = 1e-6;

/** 1-D RoPE tables for positions 0..T-1 (`Embeddings1DConnector.forward`). */
export function connectorRope(config: ConnectorConfig, seqLen: number): RopeTables {
  const positions = new Float32Array(seqLen * 2);
  for (let t = 0; t < seqLen; t++) positions.fill(t, 2 * t, 2 * t + 2);
  return splitRopeTables(positions, 1, {
    dim: config.heads * config.headDim,
    theta: config.theta,
    maxPos: config.maxPos,
    useMiddle: false,
    doublePrecision: config.doublePrecisionRope,
  });
}

/** Split RoPE in place on [B, T, heads·headDim]: each head's first half rotates with its second half. */
function applySplitRope(x: HostTensor, heads: number, { cos, sin, width }: RopeTables): void {
  const [b, t, dim] = x.shape as [number, number, number];
  const hd = dim / heads;
  const half = hd / 2;
  for (let n = 0; n < b; n++)
    for (let i = 0; i < t; i++)
      for (let h = 0; h < heads; h++) {
        const base = (n * t + i) * dim + h * hd;
        for (let j = 0; j < half; j++) {
          const c = cos[i * width + h * half + j]!;
          const s = sin[i * width + h * half + j]!;
          const x1 = x.data[base + j]!;
          const x2 = x.data[base + half + j]!;
          x.data[base + j] = x1 * c - x2 * s;
          x.data[base + half + j] = x2 * c + x1 * s;
        }
      }
}

/**
 * Head-major [B, heads, T, headDim/2] view of a RoPE table, the layout upstream traces: the positions are the same
 * for every sequence, and upstream repeats the table per batch element.
 */
function headMajor(table: Float32Array, config: ConnectorConfig, t: number, batch: number): HostTensor {
  const half = config.headDim / 2;
  const one = t * config.heads * half;
  const out = new Float32Array(batch * one);
  for (let i = 0; i < t; i++)
    for (let h = 0; h < config.heads; h++)
      for (let j = 0; j < half; j++) out[(h * t + i) * half + j] = table[(i * config.heads + h) * half + j]!;
  for (let n = 1; n < batch; n++) out.copyWithin(n * one, 0, one);
  return hostTensor([batch, config.heads, t, half], out);
}

/** Softmax attention per head, every position attending to every position (registers fill the pads). */
function attention(q: HostTensor, k: HostTensor, v: HostTensor, heads: number): HostTensor {
  const [b, t, dim] = q.shape as [number, number, number];
  const hd = dim / heads;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float32Array(q.data.length);
  const scores = new Float64Array(t);
  for (let n = 0; n < b; n++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < t; i++) {
        const qo = (n * t + i) * dim + h * hd;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < t; j++) {
          const ko = (n * t + j) * dim + h * hd;
          let s = 0;
          for (let e = 0; e < hd; e++) s += q.data[qo + e]! * k.data[ko + e]!;
          scores[j] = s * scale;
          max = Math.max(max, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j < t; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          sum += scores[j]!;
        }
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          for (let j = 0; j < t; j++) acc += scores[j]! * v.data[(n * t + j) * dim + h * hd + e]!;
          out[qo + e] = acc / sum;
        }
      }
  return hostTensor([b, t, dim], out);
}

function gate(out: HostTensor, logits: HostTensor, heads: number): HostTensor {
  const [b, t, dim] = out.shape as [number, number, number];
  const hd = dim / heads;
  const y = new Float32Array(out.data.length);
  for (let r = 0; r < b * t; r++)
    for (let h = 0; h < heads; h++) {
      const g = 2 / (1 + Math.exp(-logits.data[r * heads + h]!));
      for (let e = 0; e < hd; e++) y[r * dim + h * hd + e] = out.data[r * dim + h * hd + e]! * g;
    }
  return hostTensor([b, t, dim], y);
}

/**
 * `Embeddings1DConnector` on right-padded features [B, T, dim] with an additive mask [B, T]: pads
 * become learnable registers (tiled to T) and the mask all zeros; then pre-norm gated-attention
 * blocks with 1-D split RoPE; output rms-normed. Returns the output and the connector's mask.
 */
export function connectorReference(
  features: HostTensor,
  additiveMask: Float32Array,
  config: ConnectorConfig,
  weights: ComponentWeights,
  prefix: string,
  trace?: Trace,
): { output: HostTensor; mask: Float32Array } {
  const [b, t, dim] = features.shape as [number, number, number];
  const w = (key: string) => param(weights, `${prefix}.${key}`);
  const registers = w("learnable_registers");
  const r = registers.shape[0]!;
  if (registers.shape[1] !== dim) {
    throw new A2VError(
      "text_features_shape",
      `${prefix}.learnable_registers is [${registers.shape}], features are ${dim} wide`,
    );
  }
  if (t % r !== 0) {
    throw new A2VError("text_sequence_length", `${prefix}: ${t} tokens is not a multiple of the ${r} registers`, {
      status: 422,
    });
  }
  let x = hostTensor([b, t, dim], new Float32Array(features.data));
  for (let n = 0; n < b; n++)
    for (let i = 0; i < t; i++)
      if (additiveMask[n * t + i]! < 0)
        x.data.set(registers.data.subarray((i % r) * dim, ((i % r) + 1) * dim), (n * t + i) * dim);
  trace?.(`${prefix}_in`, x);
  const rope = connectorRope(config, t);
  if (trace) {
    trace(`${prefix}_rope_cos`, headMajor(rope.cos, config, t, b));
    trace(`${prefix}_rope_sin`, headMajor(rope.sin, config, t, b));
  }
  for (let l = 0; l < config.layers; l++) {
    const blk = `transformer_1d_blocks.${l}`;
    const h = rmsNorm(x, EPS);
    const q = rmsNorm(
      linear(h, w(`${blk}.attn1.to_q.weight`), w(`${blk}.attn1.to_q.bias`)),
      EPS,
      w(`${blk}.attn1.q_norm.weight`),
    );
    const k = rmsNorm(
      linear(h, w(`${blk}.attn1.to_k.weight`), w(`${blk}.attn1.to_k.bias`)),
      EPS,
      w(`${blk}.attn1.k_norm.weight`),
    );
    const v = linear(h, w(`${blk}.attn1.to_v.weight`), w(`${blk}.attn1.to_v.bias`));
    applySplitRope(q, config.heads, rope);
    applySplitRope(k, config.heads, rope);
    let a = attention(q, k, v, config.heads);
    if (config.gatedAttention) {
      a = gate(
        a,
        linear(h, w(`${blk}.attn1.to_gate_logits.weight`), w(`${blk}.attn1.to_gate_logits.bias`)),
        config.heads,
      );
    }
    x = add(x, linear(a, w(`${blk}.attn1.to_out.0.weight`), w(`${blk}.attn1.to_out.0.bias`)));
    const bias = (key: string) => (config.ffBias ? w(key) : undefined);
    const ff = geluTanh(linear(rmsNorm(x, EPS), w(`${blk}.ff.net.0.proj.weight`), bias(`${blk}.ff.net.0.proj.bias`)));
    x = add(x, linear(ff, w(`${blk}.ff.net.2.weight`), bias(`${blk}.ff.net.2.bias`)));
    trace?.(`${prefix}_block_${l}`, x);
  }
  // With every pad replaced by a register, the connector's additive mask is all zeros.
  return { output: rmsNorm(x, EPS), mask: new Float32Array(b * t) };
}
