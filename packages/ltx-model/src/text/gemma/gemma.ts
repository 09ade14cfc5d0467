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
  type Tensor,
  tensor,
} from "@a2v/tensor-webgpu";
import { resolveComponentKeys } from "../../vae/component-weights.js";
import type { WeightSource } from "../../weights/checkpoint.js";
import { type GemmaConfig, gemmaRopeTables } from "./config.js";
import { GEMMA_KEY_LAYOUTS, gemmaParameters } from "./weights.js";

/** Additive score mask standing in for -∞ (finite, so fully padded rows stay finite). */
const MASKED = -1e30;

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

/**
 * The Gemma 3 text decoder on `@a2v/tensor-webgpu`, weights frozen on one device: the GPU (default) or
 * the CPU device (f64). The embedding table stays on the host: rows are gathered there.
 */
export class Gemma {
  private constructor(
    readonly config: GemmaConfig,
    readonly device: Device,
    private readonly params: Map<string, Tensor>,
    private readonly embed: Float32Array,
  ) {}

  /**
   * Loads every parameter (module keys or the transformers checkpoint prefixes) from `source`, one
   * tensor at a time, so host memory holds only the embedding table and the tensor in flight.
   * `weightDtype: "bf16"` halves GPU memory (12B: ~20 GiB of decoder weights instead of ~40).
   * `device` (default the GPU) holds the weights and runs the layers.
   */
  static async load(
    source: WeightSource,
    config: GemmaConfig,
    file: string,
    options: { weightDtype?: "f32" | "bf16"; device?: Device } = {},
  ): Promise<Gemma> {
    const device = options.device ?? "gpu";
    if (device === "gpu") await init();
    const specs = gemmaParameters(config);
    const layout = resolveComponentKeys(source, file, "Gemma 3 text encoder", specs, GEMMA_KEY_LAYOUTS);
    const params = new Map<string, Tensor>();
    let embed: Float32Array = new Float32Array(0);
    for (const p of specs) {
      const data = await source.readFloat32(layout(p.key));
      if (p.key === "embed_tokens.weight") {
        embed = data;
        continue;
      }
      const t = tensor(data, p.shape!, "f32", device);
      if (options.weightDtype === "bf16" && p.shape!.length === 2) {
        params.set(p.key, cast(t, "bf16"));
        t.dispose();
      } else params.set(p.key, t);
    }
    return new Gemma(config, device, params, embed);
  }

  private p(key: string): Tensor {
    const t = this.params.get(key);
    if (!t) throw new A2VError("weights_key_missing", `Gemma parameter ${key} was not loaded`);
    return t;
  }

  /**
   * Every hidden state of a left-padded batch, stacked last: [B, T, D, layers + 1] (embeddings, each layer's
   * output, the last one after the final norm, as transformers' `output_hidden_states`). Positions are 0..T-1
   * whatever the padding, as a plain forward call gives them; rows of padding tokens are meaningless (the
   * feature extractor zeroes them).
   */
  async hiddenStates(ids: Int32Array, mask: Float32Array, batch: number): Promise<HostTensor> {
    const c = this.config;
    const t = ids.length / batch;
    const { hiddenSize: d, numHeads: heads, numKvHeads: kv, headDim: hd, rmsNormEps: eps } = c;
    const n = c.numLayers + 1;
    const states = hostTensor([batch, t, d, n]);
    const record = async (x: Tensor, l: number) => {
      const data = await x.toArray();
      for (let r = 0; r < batch * t; r++)
        for (let k = 0; k < d; k++) states.data[(r * d + k) * n + l] = data[r * d + k]!;
    };
    const scale = Math.fround(Math.sqrt(d));
    const rows = new Float32Array(batch * t * d);
    for (let r = 0; r < batch * t; r++) {
      const id = ids[r]!;
      if (id < 0 || id >= c.vocabSize)
        throw new A2VError("gemma_token_invalid", `token id ${id} is outside the vocabulary`);
      for (let k = 0; k < d; k++) rows[r * d + k] = this.embed[id * d + k]! * scale;
    }
    // Built before the layer scopes, which would otherwise free them after their first use.
    const masks = new Map<boolean, Tensor>();
    for (const sliding of new Set(c.sliding)) {
      const window = sliding ? c.slidingWindow : Number.POSITIVE_INFINITY;
      const data = new Float32Array(batch * t * t);
      for (let b = 0; b < batch; b++)
        for (let i = 0; i < t; i++)
          for (let j = 0; j < t; j++)
            if (!gemmaKeyAllowed(mask, b, t, i, j, window)) data[(b * t + i) * t + j] = MASKED;
      masks.set(sliding, tensor(data, [batch, 1, t, t], "f32", this.device));
    }
    let x = tensor(rows, [batch, t, d], "f32", this.device);
    await record(x, 0);
    const norm = (y: Tensor, key: string) => rmsNorm(y, this.p(key), { eps, onePlusWeight: true });
    for (let l = 0; l < c.numLayers; l++) {
      const sliding = c.sliding[l]!;
      const table = gemmaRopeTables(c, t, sliding);
      const w = (key: string) => `layers.${l}.${key}`;
      const next = scope(() => {
        const cos = tensor(table.cos, [t, 1, hd / 2], "f32", this.device);
        const sin = tensor(table.sin, [t, 1, hd / 2], "f32", this.device);
        const h = norm(x, w("input_layernorm.weight"));
        const project = (proj: string, normKey: string, count: number) =>
          permute(
            rope(norm(reshape(linear(h, this.p(w(proj))), [batch, t, count, hd]), w(normKey)), cos, sin, "split"),
            [0, 2, 1, 3],
          );
        const q = project("self_attn.q_proj.weight", "self_attn.q_norm.weight", heads);
        // Grouped-query attention: each key/value head serves heads/kv query heads.
        const group = (y: Tensor) =>
          reshape(expand(reshape(y, [batch, kv, 1, t, hd]), [batch, kv, heads / kv, t, hd]), [batch, heads, t, hd]);
        const k = group(project("self_attn.k_proj.weight", "self_attn.k_norm.weight", kv));
        const v = group(
          permute(reshape(linear(h, this.p(w("self_attn.v_proj.weight"))), [batch, t, kv, hd]), [0, 2, 1, 3]),
        );
        const a = attention(q, k, v, { mask: masks.get(sliding)!, scale: c.queryPreAttnScalar ** -0.5 });
        const merged = reshape(permute(a, [0, 2, 1, 3]), [batch, t, heads * hd]);
        const y = add(
          x,
          norm(linear(merged, this.p(w("self_attn.o_proj.weight"))), w("post_attention_layernorm.weight")),
        );
        const f = norm(y, w("pre_feedforward_layernorm.weight"));
        const mlp = linear(
          mul(gelu(linear(f, this.p(w("mlp.gate_proj.weight")))), linear(f, this.p(w("mlp.up_proj.weight")))),
          this.p(w("mlp.down_proj.weight")),
        );
        return add(y, norm(mlp, w("post_feedforward_layernorm.weight")));
      });
      x.dispose();
      x = next;
      if (l === c.numLayers - 1) {
        const last = norm(x, "norm.weight");
        await record(last, l + 1);
        last.dispose();
      } else await record(x, l + 1);
    }
    x.dispose();
    for (const m of masks.values()) m.dispose();
    return states;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}
