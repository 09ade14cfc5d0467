import { A2VError } from "@a2v/errors";
import {
  add,
  attention,
  cast,
  gelu,
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
import { type ComponentWeights, param } from "../vae/component-weights.js";
import { type HostTensor, hostTensor } from "../vae/reference/tensor.js";
import type { ConnectorConfig, TextConnectorsConfig } from "./config.js";
import { connectorRope } from "./reference/connector.js";
import { additiveMask, rightPadOrder, type TextContexts } from "./reference/embeddings.js";
import { normalizeHiddenStates } from "./reference/feature-extractor.js";

const EPS = 1e-6;

/**
 * The LTX-2.3 text path after Gemma on `@a2v/tensor-webgpu`: feature extractor V2 projections and
 * both embeddings connectors, weights resident on the GPU (frozen: no gradients are ever recorded).
 * The cheap, data-dependent steps (mask reorder, register fill, RoPE tables) stay on the host.
 */
export class GpuTextPath {
  private constructor(
    readonly config: TextConnectorsConfig,
    private readonly params: Map<string, Tensor>,
    private readonly hostWeights: ComponentWeights,
  ) {}

  /**
   * Uploads the weights. `weightDtype: "bf16"` stores the matrices as bf16 (the 2.3 aggregate embeds
   * are 188160 wide: 3.1 GB as float32 for video alone), computing in float32 as before.
   */
  static async create(
    config: TextConnectorsConfig,
    weights: ComponentWeights,
    options: { weightDtype?: "f32" | "bf16" } = {},
  ): Promise<GpuTextPath> {
    await init();
    const params = new Map<string, Tensor>();
    for (const [key, t] of weights) {
      const gpu = tensor(t.data, t.shape);
      const matrix = t.shape.length === 2 && !key.endsWith("learnable_registers");
      if (options.weightDtype === "bf16" && matrix) {
        params.set(key, cast(gpu, "bf16"));
        gpu.dispose();
      } else params.set(key, gpu);
    }
    return new GpuTextPath(config, params, weights);
  }

  private p(key: string): Tensor {
    const t = this.params.get(key);
    if (!t) throw new A2VError("weights_key_missing", `text path parameter ${key} was not loaded`);
    return t;
  }

  /** Feature extractor V2: hidden states [B, T, D, L] + mask [B, T] -> cached caption features. */
  async extractFeatures(hiddenStates: HostTensor, mask: HostTensor): Promise<{ video: HostTensor; audio: HostTensor }> {
    const [b, t, d] = hiddenStates.shape as [number, number, number];
    const normed = normalizeHiddenStates(hiddenStates, mask);
    const project = async (name: "video" | "audio") => {
      const w = this.p(`feature_extractor.${name}_aggregate_embed.weight`);
      const out = scope(() => {
        const x = mul(tensor(normed.data, normed.shape), Math.sqrt(w.shape[0]! / d));
        return linear(x, w, this.p(`feature_extractor.${name}_aggregate_embed.bias`));
      });
      const data = (await out.toArray()) as Float32Array;
      out.dispose();
      return hostTensor([b, t, w.shape[0]!], data);
    };
    return { video: await project("video"), audio: await project("audio") };
  }

  /** `create_embeddings`: caption features + 0/1 mask -> transformer contexts (see `createEmbeddingsReference`). */
  async createEmbeddings(
    videoFeatures: HostTensor,
    audioFeatures: HostTensor,
    mask: HostTensor,
  ): Promise<TextContexts> {
    const [b, t] = videoFeatures.shape as [number, number];
    const additive = additiveMask(mask);
    const order = rightPadOrder(additive, b);
    const padded = Uint8Array.from(order, (src, i) => (additive[Math.floor(i / t) * t + src]! < 0 ? 1 : 0));
    const video = await this.connector(videoFeatures, order, padded, this.config.video, "video_connector");
    const audio = await this.connector(audioFeatures, order, padded, this.config.audio, "audio_connector");
    // With every pad filled by a register the connector mask is all zeros, so the binary mask is all ones.
    return { video, audio, mask: hostTensor([b, t], new Float32Array(b * t).fill(1)) };
  }

  private async connector(
    features: HostTensor,
    order: Int32Array,
    padded: Uint8Array,
    config: ConnectorConfig,
    prefix: string,
  ): Promise<HostTensor> {
    const [b, t, dim] = features.shape as [number, number, number];
    const registers = param(this.hostWeights, `${prefix}.learnable_registers`);
    const r = registers.shape[0]!;
    if (t % r !== 0) {
      throw new A2VError("text_sequence_length", `${prefix}: ${t} tokens is not a multiple of the ${r} registers`, {
        status: 422,
      });
    }
    const regData = registers.data;
    // Right-pad reorder, then pads replaced by registers tiled over the sequence.
    const x0 = new Float32Array(b * t * dim);
    for (let n = 0; n < b; n++)
      for (let i = 0; i < t; i++) {
        const row = n * t + i;
        const src = padded[row]
          ? regData.subarray((i % r) * dim, ((i % r) + 1) * dim)
          : features.data.subarray((n * t + order[row]!) * dim, (n * t + order[row]! + 1) * dim);
        x0.set(src, row * dim);
      }
    const { heads, headDim } = config;
    const table = connectorRope(config, t);
    const out = scope(() => {
      const cos = tensor(table.cos, [t, heads, headDim / 2]);
      const sin = tensor(table.sin, [t, heads, headDim / 2]);
      let x = tensor(x0, [b, t, dim]);
      const heads4 = (y: Tensor) => reshape(y, [b, t, heads, headDim]);
      for (let l = 0; l < config.layers; l++) {
        const w = (k: string) => this.p(`${prefix}.transformer_1d_blocks.${l}.${k}`);
        const h = rmsNorm(x, undefined, { eps: EPS });
        const q = rope(
          heads4(
            rmsNorm(linear(h, w("attn1.to_q.weight"), w("attn1.to_q.bias")), w("attn1.q_norm.weight"), { eps: EPS }),
          ),
          cos,
          sin,
          "split",
        );
        const k = rope(
          heads4(
            rmsNorm(linear(h, w("attn1.to_k.weight"), w("attn1.to_k.bias")), w("attn1.k_norm.weight"), { eps: EPS }),
          ),
          cos,
          sin,
          "split",
        );
        const v = heads4(linear(h, w("attn1.to_v.weight"), w("attn1.to_v.bias")));
        let a = permute(
          attention(permute(q, [0, 2, 1, 3]), permute(k, [0, 2, 1, 3]), permute(v, [0, 2, 1, 3])),
          [0, 2, 1, 3],
        );
        if (config.gatedAttention) {
          const gate = mul(sigmoid(linear(h, w("attn1.to_gate_logits.weight"), w("attn1.to_gate_logits.bias"))), 2);
          a = mul(a, unsqueeze(gate, -1));
        }
        x = add(x, linear(reshape(a, [b, t, dim]), w("attn1.to_out.0.weight"), w("attn1.to_out.0.bias")));
        const bias = (key: string) => (config.ffBias ? w(key) : undefined);
        const ff = gelu(
          linear(rmsNorm(x, undefined, { eps: EPS }), w("ff.net.0.proj.weight"), bias("ff.net.0.proj.bias")),
        );
        x = add(x, linear(ff, w("ff.net.2.weight"), bias("ff.net.2.bias")));
      }
      return rmsNorm(x, undefined, { eps: EPS });
    });
    const data = (await out.toArray()) as Float32Array;
    out.dispose();
    return hostTensor([b, t, dim], data);
  }

  /** Frees the weights. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}
