import { A2VError } from "@a2v/errors";
import {
  add,
  attention,
  cast,
  type Device,
  expand,
  gelu,
  type HostTensor,
  hostTensor,
  init,
  linear,
  mul,
  permute,
  reshape,
  rmsNorm,
  rope,
  scope,
  sigmoid,
  type Tensor,
  tensor,
  unsqueeze,
} from "@a2v/tensor-webgpu";
import { type RopeTables, splitRopeTables } from "../embeddings.js";
import type { ComponentWeights } from "../vae/component-weights.js";
import type { ConnectorConfig, TextConnectorsConfig } from "./config.js";

const EPS = 1e-6;
const F32_MAX = 3.4028234663852886e38;

/** Receives named intermediates (the golden set's names), downloaded to the host. */
export type TextTrace = (name: string, value: HostTensor) => void;

export interface TextContexts {
  /** Transformer video context [B, T, videoDim] (multiplied by the returned mask). */
  video: HostTensor;
  /** Transformer audio context [B, T, audioDim] (not masked, as upstream). */
  audio: HostTensor;
  /** Binary context mask [B, T] (all ones when registers fill the pads). */
  mask: HostTensor;
}

/** `convert_to_additive_mask`: 0 where valid, -finfo(float32).max where padded. */
export function additiveMask(mask: HostTensor): Float32Array {
  return Float32Array.from(mask.data, (m) => (m - 1) * F32_MAX);
}

/** Stable per-row order putting valid tokens first (`_compute_right_pad_order`): [B, T] indices. */
export function rightPadOrder(additive: Float32Array, batch: number): Int32Array {
  const t = additive.length / batch;
  const order = new Int32Array(additive.length);
  for (let n = 0; n < batch; n++) {
    const row = Array.from({ length: t }, (_, i) => i);
    const valid = row.filter((i) => additive[n * t + i]! >= 0);
    const pads = row.filter((i) => additive[n * t + i]! < 0);
    order.set([...valid, ...pads], n * t);
  }
  return order;
}

/** 1-D RoPE tables for positions 0..T-1 (`Embeddings1DConnector.forward`), float64 grid as upstream. */
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

async function download(x: Tensor, shape: number[] = [...x.shape]): Promise<HostTensor> {
  const values = await x.toArray();
  return hostTensor(shape, values instanceof Float32Array ? values : Float32Array.from(values));
}

/**
 * The LTX-2.3 text path after Gemma on `@a2v/tensor-webgpu`: feature extractor V2 and both embeddings
 * connectors (`EmbeddingsProcessor`), weights frozen on one device (the GPU by default, or the CPU
 * device: f64, the parity reference). The cheap, data-dependent steps (mask reorder, register fill,
 * RoPE tables) run on the host; every layer runs on the device.
 */
export class TextPath {
  private constructor(
    readonly config: TextConnectorsConfig,
    readonly device: Device,
    private readonly params: Map<string, Tensor>,
    private readonly hostWeights: ComponentWeights,
  ) {}

  /**
   * Puts the weights on `device` (default the GPU). `weightDtype: "bf16"` stores the matrices as bf16
   * (the 2.3 aggregate embeds are 188160 wide: 3.1 GB as float32 for video alone), computing in float32.
   */
  static async create(
    config: TextConnectorsConfig,
    weights: ComponentWeights,
    options: { weightDtype?: "f32" | "bf16"; device?: Device } = {},
  ): Promise<TextPath> {
    const device = options.device ?? "gpu";
    if (device === "gpu") await init();
    const params = new Map<string, Tensor>();
    for (const [key, t] of weights) {
      const w = tensor(t.data, t.shape, "f32", device);
      const matrix = t.shape.length === 2 && !key.endsWith("learnable_registers");
      if (options.weightDtype === "bf16" && matrix) {
        params.set(key, cast(w, "bf16"));
        w.dispose();
      } else params.set(key, w);
    }
    return new TextPath(config, device, params, weights);
  }

  private p(key: string): Tensor {
    const t = this.params.get(key);
    if (!t) throw new A2VError("weights_key_missing", `text path parameter ${key} was not loaded`);
    return t;
  }

  /**
   * Feature extractor V2: hidden states [B, T, D, L] (states stacked last, index 0 = embeddings) + 0/1 mask
   * [B, T] -> the caption features the trainer caches, video [B, T, videoDim] and audio [B, T, audioDim]:
   * per token and state `x · rsqrt(mean_D(x²) + 1e-6)`, flattened to [B, T, D·L] (index d·L + l), pads
   * zeroed, then `W(n · sqrt(out/D)) + b`. Traces `features_normed`, `video_features`, `audio_features`.
   */
  async extractFeatures(
    hiddenStates: HostTensor,
    mask: HostTensor,
    trace?: TextTrace,
  ): Promise<{ video: HostTensor; audio: HostTensor }> {
    const [b, t, d, l] = hiddenStates.shape as [number, number, number, number];
    for (const name of ["video", "audio"]) {
      const inp = this.p(`feature_extractor.${name}_aggregate_embed.weight`).shape[1]!;
      if (inp !== d * l) {
        throw new A2VError(
          "text_features_shape",
          `${name}_aggregate_embed expects ${inp} features; hidden states give ${d}×${l} = ${d * l}`,
          { status: 422 },
        );
      }
    }
    const normed = scope(() => {
      const states = tensor(hiddenStates.data, [b, t, d, l], "f32", this.device);
      // Normalised per state over D, back in [B, T, D, L] order (the masking multiply writes it contiguously).
      const perState = permute(rmsNorm(permute(states, [0, 1, 3, 2]), undefined, { eps: EPS }), [0, 1, 3, 2]);
      return reshape(mul(perState, tensor(mask.data, [b, t, 1, 1], "f32", this.device)), [b, t, d * l]);
    });
    if (trace) trace("features_normed", await download(normed));
    const project = async (name: "video" | "audio") => {
      const w = this.p(`feature_extractor.${name}_aggregate_embed.weight`);
      const out = scope(() =>
        linear(mul(normed, Math.sqrt(w.shape[0]! / d)), w, this.p(`feature_extractor.${name}_aggregate_embed.bias`)),
      );
      const features = await download(out);
      out.dispose();
      trace?.(`${name}_features`, features);
      return features;
    };
    try {
      return { video: await project("video"), audio: await project("audio") };
    } finally {
      normed.dispose();
    }
  }

  /**
   * `process_hidden_states`: Gemma hidden states [B, T, D, L] + mask -> contexts (feature extractor, then
   * `createEmbeddings` on its features).
   */
  async processHiddenStates(hiddenStates: HostTensor, mask: HostTensor, trace?: TextTrace): Promise<TextContexts> {
    const { video, audio } = await this.extractFeatures(hiddenStates, mask, trace);
    return this.createEmbeddings(video, audio, mask, trace);
  }

  /**
   * `EmbeddingsProcessor.create_embeddings`: cached caption features + their 0/1 mask -> the contexts the
   * transformer attends to. Right-pad reorder (stable), learnable registers replace the pads (so the connector
   * mask is all zeros and the binary mask all ones), both connectors; the video context is masked, the audio one
   * not. Traces the reorder (`sort_idx`, `sorted_additive_mask`, `*_features_sorted`) and each connector's input,
   * RoPE tables and block outputs.
   */
  async createEmbeddings(
    videoFeatures: HostTensor,
    audioFeatures: HostTensor,
    mask: HostTensor,
    trace?: TextTrace,
  ): Promise<TextContexts> {
    const [b, t] = videoFeatures.shape as [number, number];
    const additive = additiveMask(mask);
    const order = rightPadOrder(additive, b);
    const sorted = Float32Array.from(order, (src, i) => additive[Math.floor(i / t) * t + src]!);
    trace?.("sort_idx", hostTensor([b, t], Float32Array.from(order)));
    trace?.("sorted_additive_mask", hostTensor([b, 1, 1, t], sorted));
    const padded = Uint8Array.from(sorted, (m) => (m < 0 ? 1 : 0));
    const video = await this.connector(videoFeatures, order, padded, this.config.video, "video", trace);
    const audio = await this.connector(audioFeatures, order, padded, this.config.audio, "audio", trace);
    // With every pad filled by a register the connector mask is all zeros, so the binary mask is all ones
    // and the masked video context is the connector's output.
    return { video, audio, mask: hostTensor([b, t], new Float32Array(b * t).fill(1)) };
  }

  private async connector(
    features: HostTensor,
    order: Int32Array,
    padded: Uint8Array,
    config: ConnectorConfig,
    name: "video" | "audio",
    trace?: TextTrace,
  ): Promise<HostTensor> {
    const prefix = `${name}_connector`;
    const [b, t, dim] = features.shape as [number, number, number];
    const registers = this.hostWeights.get(`${prefix}.learnable_registers`);
    if (!registers)
      throw new A2VError("weights_key_missing", `text path parameter ${prefix}.learnable_registers was not loaded`);
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
    // Right-pad reorder, then pads replaced by registers tiled over the sequence.
    const x0 = new Float32Array(b * t * dim);
    for (let row = 0; row < b * t; row++) {
      const src = (row - (row % t) + order[row]!) * dim;
      x0.set(features.data.subarray(src, src + dim), row * dim);
    }
    if (trace) trace(`${name}_features_sorted`, hostTensor([b, t, dim], x0.slice()));
    for (let row = 0; row < b * t; row++) {
      const i = row % t;
      if (padded[row]) x0.set(registers.data.subarray((i % r) * dim, ((i % r) + 1) * dim), row * dim);
    }
    trace?.(`${prefix}_in`, hostTensor([b, t, dim], x0));
    const { heads, headDim } = config;
    const table = connectorRope(config, t);
    const [cos, sin] = [table.cos, table.sin].map((v) => tensor(v, [t, heads, headDim / 2], "f32", this.device)) as [
      Tensor,
      Tensor,
    ];
    if (trace) {
      // Head-major [B, heads, T, headDim/2], the layout upstream traces (the table repeated per sequence).
      for (const [suffix, table] of [
        ["cos", cos],
        ["sin", sin],
      ] as const) {
        const view = scope(() =>
          permute(expand(reshape(table, [1, t, heads, headDim / 2]), [b, t, heads, headDim / 2]), [0, 2, 1, 3]),
        );
        trace(`${prefix}_rope_${suffix}`, await download(view));
        view.dispose();
      }
    }
    let x = tensor(x0, [b, t, dim], "f32", this.device);
    const heads4 = (y: Tensor) => reshape(y, [b, t, heads, headDim]);
    for (let l = 0; l < config.layers; l++) {
      const w = (k: string) => this.p(`${prefix}.transformer_1d_blocks.${l}.${k}`);
      const input = x;
      x = scope(() => {
        const h = rmsNorm(input, undefined, { eps: EPS });
        const qk = (p: "q" | "k") =>
          rope(
            heads4(
              rmsNorm(linear(h, w(`attn1.to_${p}.weight`), w(`attn1.to_${p}.bias`)), w(`attn1.${p}_norm.weight`), {
                eps: EPS,
              }),
            ),
            cos,
            sin,
            "split",
          );
        const [q, k] = [qk("q"), qk("k")];
        const v = heads4(linear(h, w("attn1.to_v.weight"), w("attn1.to_v.bias")));
        let a = permute(
          attention(permute(q, [0, 2, 1, 3]), permute(k, [0, 2, 1, 3]), permute(v, [0, 2, 1, 3])),
          [0, 2, 1, 3],
        );
        if (config.gatedAttention) {
          const gate = mul(sigmoid(linear(h, w("attn1.to_gate_logits.weight"), w("attn1.to_gate_logits.bias"))), 2);
          a = mul(a, unsqueeze(gate, -1));
        }
        const y = add(input, linear(reshape(a, [b, t, dim]), w("attn1.to_out.0.weight"), w("attn1.to_out.0.bias")));
        const bias = (key: string) => (config.ffBias ? w(key) : undefined);
        const ff = gelu(
          linear(rmsNorm(y, undefined, { eps: EPS }), w("ff.net.0.proj.weight"), bias("ff.net.0.proj.bias")),
        );
        return add(y, linear(ff, w("ff.net.2.weight"), bias("ff.net.2.bias")));
      });
      input.dispose();
      if (trace) trace(`${prefix}_block_${l}`, await download(x));
    }
    const out = scope(() => rmsNorm(x, undefined, { eps: EPS }));
    x.dispose();
    cos.dispose();
    sin.dispose();
    const result = await download(out);
    out.dispose();
    return result;
  }

  /** Frees the weights. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}
