import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { textConnectorsConfig } from "../../src/text/config.js";
import { loadEmbeddingsProcessor } from "../../src/text/load.js";
import {
  additiveMask,
  createEmbeddingsReference,
  processHiddenStatesReference,
} from "../../src/text/reference/embeddings.js";
import type { HostTensor } from "../../src/vae/reference/tensor.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "../vae/golden.js";

const dir = goldenSet("text_connector");

describe.skipIf(!dir)("text path CPU reference vs golden text_connector", () => {
  const setup = async () => {
    const config = textConnectorsConfig(readConfig(dir!).transformer_config as Record<string, unknown>, "config.json");
    const tensors = await readTensors(join(dir!, "tensors.safetensors"));
    const file = join(dir!, "embeddings_processor.safetensors");
    const source = await openWeights(file);
    const weights = await loadEmbeddingsProcessor(source, config, file);
    await source.close();
    return { config, tensors, weights };
  };

  it("hidden states -> features -> contexts, every intermediate within 1e-5, masks exact", async () => {
    const { config, tensors, weights } = await setup();
    const errors: Record<string, number> = {};
    const trace = (name: string, value: HostTensor) => {
      if (tensors.has(name)) errors[name] = maxAbsErr(value, tensor(tensors, name));
    };
    const mask = tensor(tensors, "attention_mask");
    const out = processHiddenStatesReference(tensor(tensors, "hidden_states"), mask, config, weights, trace);
    errors.video_context = maxAbsErr(out.video, tensor(tensors, "video_context"));
    errors.audio_context = maxAbsErr(out.audio, tensor(tensors, "audio_context"));
    for (const [name, err] of Object.entries(errors)) {
      const exact = name.includes("mask") || name === "sort_idx";
      expect(err, name).toBeLessThanOrEqual(exact ? 0 : 1e-5);
    }
    expect(Object.keys(errors)).toHaveLength(19);
    expect(Array.from(out.mask.data)).toEqual(Array.from(tensor(tensors, "context_mask").data));
    expect(Array.from(additiveMask(mask))).toEqual(Array.from(tensor(tensors, "additive_mask").data));
  });

  it("create_embeddings from the cached features gives the same contexts", async () => {
    const { config, tensors, weights } = await setup();
    const out = createEmbeddingsReference(
      tensor(tensors, "video_features"),
      tensor(tensors, "audio_features"),
      tensor(tensors, "attention_mask"),
      config,
      weights,
    );
    expect(maxAbsErr(out.video, tensor(tensors, "video_context"))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsErr(out.audio, tensor(tensors, "audio_context"))).toBeLessThanOrEqual(1e-5);
  });
});
