import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import { type KeyLayout, type ParamSpec, prefixLayout } from "../../vae/component-weights.js";
import type { WeightSource } from "../../weights/checkpoint.js";
import { SafetensorsFile } from "../../weights/safetensors.js";
import type { GemmaConfig } from "./config.js";

/** Every parameter of the Gemma 3 text decoder (no lm_head: only hidden states are needed). */
export function gemmaParameters(c: GemmaConfig): ParamSpec[] {
  const d = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const params: ParamSpec[] = [{ key: "embed_tokens.weight", shape: [c.vocabSize, d] }];
  for (let i = 0; i < c.numLayers; i++) {
    const l = `layers.${i}`;
    for (const norm of [
      "input_layernorm",
      "post_attention_layernorm",
      "pre_feedforward_layernorm",
      "post_feedforward_layernorm",
    ]) {
      params.push({ key: `${l}.${norm}.weight`, shape: [d] });
    }
    params.push(
      { key: `${l}.self_attn.q_proj.weight`, shape: [q, d] },
      { key: `${l}.self_attn.k_proj.weight`, shape: [kv, d] },
      { key: `${l}.self_attn.v_proj.weight`, shape: [kv, d] },
      { key: `${l}.self_attn.o_proj.weight`, shape: [d, q] },
      { key: `${l}.self_attn.q_norm.weight`, shape: [c.headDim] },
      { key: `${l}.self_attn.k_norm.weight`, shape: [c.headDim] },
      { key: `${l}.mlp.gate_proj.weight`, shape: [c.intermediateSize, d] },
      { key: `${l}.mlp.up_proj.weight`, shape: [c.intermediateSize, d] },
      { key: `${l}.mlp.down_proj.weight`, shape: [d, c.intermediateSize] },
    );
  }
  params.push({ key: "norm.weight", shape: [d] });
  return params;
}

/** Bare text-model keys, Gemma3ForCausalLM (`model.`), and the multimodal checkpoints' language model. */
export const GEMMA_KEY_LAYOUTS: KeyLayout[] = ["", "model.", "language_model.model.", "model.language_model."].map(
  (prefix) => prefixLayout([["", prefix]]),
);

/**
 * A model folder's safetensors shards as one WeightSource: `model.safetensors.index.json`'s weight map,
 * or a single `model.safetensors`. Shards open lazily, once.
 */
export async function openShardedWeights(dir: string): Promise<WeightSource & { close(): Promise<void> }> {
  let weightMap: Record<string, string>;
  try {
    const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as {
      weight_map: Record<string, string>;
    };
    weightMap = index.weight_map;
  } catch {
    const single = await SafetensorsFile.open(join(dir, "model.safetensors")).catch((cause: unknown) => {
      throw new A2VError(
        "gemma_weights_missing",
        `${dir}: neither model.safetensors.index.json nor model.safetensors is readable`,
        {
          status: 422,
          cause,
        },
      );
    });
    weightMap = Object.fromEntries(single.keys().map((k) => [k, "model.safetensors"]));
    await single.close();
  }
  const files = new Map<string, Promise<SafetensorsFile>>();
  const shard = (name: string) => {
    let f = files.get(name);
    if (!f) {
      f = SafetensorsFile.open(join(dir, name));
      files.set(name, f);
    }
    return f;
  };
  // Shapes are needed synchronously: read every shard header up front (headers only).
  const shapes = new Map<string, number[]>();
  for (const name of new Set(Object.values(weightMap))) {
    const f = await shard(name);
    for (const key of f.keys()) if (weightMap[key] === name) shapes.set(key, [...f.entry(key).shape]);
  }
  return {
    shape: (key) => shapes.get(key),
    readFloat32: async (key) => (await shard(weightMap[key]!)).readFloat32(key),
    close: async () => {
      for (const f of files.values()) await (await f).close();
    },
  };
}
