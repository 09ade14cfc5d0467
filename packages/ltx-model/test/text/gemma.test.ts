import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostTensor, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { numel } from "../../src/layout.js";
import { CaptionCache } from "../../src/text/caption-cache.js";
import { textConnectorsConfig } from "../../src/text/config.js";
import { encodeCaption } from "../../src/text/encode-captions.js";
import { gemmaConfig } from "../../src/text/gemma/config.js";
import { Gemma } from "../../src/text/gemma/gemma.js";
import { GemmaPromptTokenizer } from "../../src/text/gemma/tokenizer.js";
import { gemmaParameters, openShardedWeights } from "../../src/text/gemma/weights.js";
import { loadEmbeddingsProcessor } from "../../src/text/load.js";
import { TextPath } from "../../src/text/text-path.js";
import { writeSafetensors } from "../../src/weights/safetensors.js";
import { goldenSet, openWeights, readConfig } from "../vae/golden.js";

afterAll(() => releaseGpu());
const connectorDir = goldenSet("text_connector");

/**
 * A tiny Gemma 3: 3 layers (sliding, global, sliding), GQA 2:1, a 3-token window, linear RoPE scaling;
 * hidden 24 with 4 states, the width the golden text_connector's feature extractor takes.
 */
const CONFIG_JSON = {
  architectures: ["Gemma3ForConditionalGeneration"],
  text_config: {
    vocab_size: 12,
    hidden_size: 24,
    intermediate_size: 24,
    num_hidden_layers: 3,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 8,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    rope_local_base_freq: 10000,
    rope_scaling: { rope_type: "linear", factor: 8 },
    sliding_window: 3,
    sliding_window_pattern: 2,
    query_pre_attn_scalar: 8,
    attn_logit_softcapping: null,
  },
};

const VOCAB = {
  "<pad>": 0,
  "<eos>": 1,
  "<bos>": 2,
  "<unk>": 3,
  "▁": 4,
  a: 5,
  c: 6,
  t: 7,
  "▁a": 8,
  "▁c": 9,
  at: 10,
  "▁cat": 11,
};
const special = (content: string, id: number) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});
const TOKENIZER_JSON = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [special("<pad>", 0), special("<eos>", 1), special("<bos>", 2), special("<unk>", 3)],
  normalizer: { type: "Replace", pattern: { String: " " }, content: "▁" },
  pre_tokenizer: null,
  post_processor: {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "<bos>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [
      { SpecialToken: { id: "<bos>", type_id: 0 } },
      { Sequence: { id: "A", type_id: 0 } },
      { Sequence: { id: "B", type_id: 1 } },
    ],
    special_tokens: { "<bos>": { id: "<bos>", ids: [2], tokens: ["<bos>"] } },
  },
  decoder: null,
  model: {
    type: "BPE",
    dropout: null,
    unk_token: "<unk>",
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: false,
    vocab: VOCAB,
    merges: [
      ["▁", "a"],
      ["▁", "c"],
      ["a", "t"],
      ["▁c", "at"],
    ],
  },
};
const TOKENIZER_CONFIG = { bos_token: "<bos>", eos_token: "<eos>", pad_token: "<pad>", add_bos_token: true };

/** Writes a model folder: config, tokenizer, and weights in two shards under the multimodal prefix. */
async function tinyModelFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "a2v-gemma-"));
  await writeFile(join(dir, "config.json"), JSON.stringify(CONFIG_JSON));
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(TOKENIZER_JSON));
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(TOKENIZER_CONFIG));
  const params = gemmaParameters(gemmaConfig(CONFIG_JSON));
  let seed = 7;
  const shards: Record<string, { name: string; dtype: "F32"; shape: number[]; data: Uint8Array }[]> = { a: [], b: [] };
  const weightMap: Record<string, string> = {};
  params.forEach((p, i) => {
    const data = Float32Array.from({ length: numel(p.shape!) }, () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed / 2 ** 32 - 0.5) * (p.key.endsWith("norm.weight") ? 0.5 : 0.8);
    });
    const shard = i % 2 ? "b" : "a";
    const name = `language_model.model.${p.key}`;
    shards[shard]!.push({ name, dtype: "F32", shape: p.shape!, data: new Uint8Array(data.buffer) });
    weightMap[name] = `model-0000${shard === "a" ? 1 : 2}-of-00002.safetensors`;
  });
  await writeSafetensors(join(dir, "model-00001-of-00002.safetensors"), shards.a!);
  await writeSafetensors(join(dir, "model-00002-of-00002.safetensors"), shards.b!);
  await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return dir;
}

describe("Gemma 3 text encoder (tiny)", () => {
  it("reads the Gemma-3-12B config: 49 hidden states, every 6th layer global, ~11.8B decoder parameters", () => {
    const config = gemmaConfig({
      text_config: {
        vocab_size: 262208,
        hidden_size: 3840,
        intermediate_size: 15360,
        num_hidden_layers: 48,
        num_attention_heads: 16,
        num_key_value_heads: 8,
        head_dim: 256,
        query_pre_attn_scalar: 256,
        sliding_window: 1024,
        rope_theta: 1000000,
        rope_local_base_freq: 10000,
        rope_scaling: { factor: 8, rope_type: "linear" },
      },
    });
    expect(config.sliding.filter((s) => !s)).toHaveLength(8);
    expect(config.sliding[5]).toBe(false);
    expect(config.sliding[4]).toBe(true);
    const count = gemmaParameters(config).reduce((n, p) => n + numel(p.shape!), 0);
    expect(count / 1e9).toBeCloseTo(11.77, 1);
  });

  it("tokenizes with <bos> first, truncates and left-pads like LTX's Gemma tokenizer", async () => {
    const dir = await tinyModelFolder();
    try {
      const tok = await GemmaPromptTokenizer.fromFolder(dir, 6);
      expect(tok.ids("a cat")).toEqual([2, 5, 11]);
      const batch = tok.encode(["a cat", "a cat a cat a cat"]);
      expect(Array.from(batch.ids)).toEqual([0, 0, 0, 2, 5, 11, 2, 5, 11, 8, 11, 8]);
      expect(Array.from(batch.mask)).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("hidden states on the GPU match the CPU device on valid tokens (sharded folder, local/global layers, GQA)", async () => {
    const dir = await tinyModelFolder();
    try {
      const config = gemmaConfig(CONFIG_JSON);
      expect(config.sliding).toEqual([true, false, true]);
      const tok = await GemmaPromptTokenizer.fromFolder(dir, 7);
      const { ids, mask, batch } = tok.encode(["a cat a cat", "cat"]);
      const source = await openShardedWeights(dir);
      const cpu = await Gemma.load(source, config, dir, { device: "cpu" });
      const expected = await cpu.hiddenStates(ids, mask, batch);
      const gpu = await Gemma.load(source, config, dir);
      expect(gpu.device).toBe("gpu");
      const got = await gpu.hiddenStates(ids, mask, batch);
      await source.close();
      gpu.dispose();
      expect(got.shape).toEqual([2, 7, 24, 4]);
      let worst = 0;
      for (let r = 0; r < batch * 7; r++) {
        if (mask[r] === 0) continue;
        for (let i = r * 96; i < (r + 1) * 96; i++) worst = Math.max(worst, Math.abs(got.data[i]! - expected.data[i]!));
      }
      expect(worst).toBeLessThan(1e-4);
      // bf16 matrices: same result to bf16 precision.
      const shards = await openShardedWeights(dir);
      const half = await Gemma.load(shards, config, dir, { weightDtype: "bf16" });
      await shards.close();
      const bf16 = await half.hiddenStates(ids, mask, batch);
      half.dispose();
      let bfWorst = 0;
      for (let r = 0; r < batch * 7; r++) {
        if (mask[r] === 0) continue;
        for (let i = r * 96; i < (r + 1) * 96; i++)
          bfWorst = Math.max(bfWorst, Math.abs(bf16.data[i]! - expected.data[i]!));
      }
      expect(bfWorst).toBeGreaterThan(0);
      expect(bfWorst).toBeLessThan(0.1);
      // The sliding window matters: a 3-token window differs from full attention on the long prompt.
      const wideShards = await openShardedWeights(dir);
      const wideGemma = await Gemma.load(wideShards, { ...config, slidingWindow: 100 }, dir, { device: "cpu" });
      await wideShards.close();
      const wide = await wideGemma.hiddenStates(ids, mask, batch);
      cpu.dispose();
      wideGemma.dispose();
      expect(Math.max(...expected.data.map((v, i) => Math.abs(v - wide.data[i]!)))).toBeGreaterThan(1e-3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!connectorDir)(
    "caption -> tokens -> Gemma -> feature extractor V2, cached; GPU vs CPU device",
    async () => {
      const dir = await tinyModelFolder();
      try {
        const config = gemmaConfig(CONFIG_JSON);
        const tokenizer = await GemmaPromptTokenizer.fromFolder(dir, 9);
        const source = await openShardedWeights(dir);
        const gemma = await Gemma.load(source, config, dir);
        const cpuGemma = await Gemma.load(source, config, dir, { device: "cpu" });
        await source.close();
        const textConfig = textConnectorsConfig(
          readConfig(connectorDir!).transformer_config as Record<string, unknown>,
        );
        const file = join(connectorDir!, "embeddings_processor.safetensors");
        const ep = await openWeights(file);
        const epWeights = await loadEmbeddingsProcessor(ep, textConfig, file);
        await ep.close();
        const textPath = await TextPath.create(textConfig, epWeights);
        const cpuTextPath = await TextPath.create(textConfig, epWeights, { device: "cpu" });
        const cache = new CaptionCache(join(dir, "captions"));
        const encoder = { tokenizer, gemma, textPath, cache, modelId: "tiny-gemma" };
        const features = await encodeCaption("a cat a cat", encoder);
        expect(features.video.shape).toEqual([9, 32]);
        expect(await cache.get("tiny-gemma|max9", "a cat a cat")).toBeDefined();
        // The same chain on the CPU device.
        const { ids, mask } = tokenizer.encode(["a cat a cat"]);
        const states = await cpuGemma.hiddenStates(ids, mask, 1);
        const cpu = await cpuTextPath.extractFeatures(states, hostTensor([1, 9], mask));
        cpuGemma.dispose();
        cpuTextPath.dispose();
        const err = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
        expect(err(features.video.data, cpu.video.data)).toBeLessThan(1e-4);
        expect(err(features.audio.data, cpu.audio.data)).toBeLessThan(1e-4);
        // A second request is served from the cache: Gemma (now freed) is not run again.
        gemma.dispose();
        const again = await encodeCaption("a cat a cat", encoder);
        expect(Array.from(again.video.data)).toEqual(Array.from(features.video.data));
        textPath.dispose();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
