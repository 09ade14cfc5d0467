import { join } from "node:path";
import type { HostTensor } from "@a2v/tensor-webgpu";
import { type Device, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { textConnectorsConfig } from "../../src/text/config.js";
import { loadEmbeddingsProcessor } from "../../src/text/load.js";
import { additiveMask, TextPath } from "../../src/text/text-path.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "../vae/golden.js";

const dir = goldenSet("text_connector");
afterAll(() => releaseGpu());

// One text path code, both devices: the CPU device (f64) and the GPU.
describe.skipIf(!dir)("text path vs golden text_connector", () => {
  const setup = async () => {
    const config = textConnectorsConfig(readConfig(dir!).transformer_config as Record<string, unknown>, "config.json");
    const tensors = await readTensors(join(dir!, "tensors.safetensors"));
    const file = join(dir!, "embeddings_processor.safetensors");
    const source = await openWeights(file);
    const weights = await loadEmbeddingsProcessor(source, config, file);
    await source.close();
    return { config, tensors, weights };
  };

  for (const device of ["cpu", "gpu"] as Device[]) {
    it(`${device}: hidden states -> features -> contexts, every intermediate within 1e-5, masks exact; the same from the cached features`, async () => {
      const { config, tensors, weights } = await setup();
      const path = await TextPath.create(config, weights, { device });
      const errors: Record<string, number> = {};
      const trace = (name: string, value: HostTensor) => {
        if (tensors.has(name)) errors[name] = maxAbsErr(value, tensor(tensors, name));
      };
      const mask = tensor(tensors, "attention_mask");
      const out = await path.processHiddenStates(tensor(tensors, "hidden_states"), mask, trace);
      errors.video_context = maxAbsErr(out.video, tensor(tensors, "video_context"));
      errors.audio_context = maxAbsErr(out.audio, tensor(tensors, "audio_context"));
      const cached = await path.createEmbeddings(
        tensor(tensors, "video_features"),
        tensor(tensors, "audio_features"),
        mask,
      );
      errors["video_context (cached)"] = maxAbsErr(cached.video, tensor(tensors, "video_context"));
      errors["audio_context (cached)"] = maxAbsErr(cached.audio, tensor(tensors, "audio_context"));
      path.dispose();
      for (const [name, err] of Object.entries(errors)) {
        const exact = name.includes("mask") || name === "sort_idx";
        expect(err, name).toBeLessThanOrEqual(exact ? 0 : 1e-5);
      }
      expect(Object.keys(errors)).toHaveLength(21);
      expect(Array.from(out.mask.data)).toEqual(Array.from(tensor(tensors, "context_mask").data));
      expect(Array.from(additiveMask(mask))).toEqual(Array.from(tensor(tensors, "additive_mask").data));
    });
  }
});
