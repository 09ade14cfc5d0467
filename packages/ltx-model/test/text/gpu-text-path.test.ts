import { join } from "node:path";
import { releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { textConnectorsConfig } from "../../src/text/config.js";
import { GpuTextPath } from "../../src/text/gpu.js";
import { loadEmbeddingsProcessor } from "../../src/text/load.js";
import { createEmbeddingsReference } from "../../src/text/reference/embeddings.js";
import { hostTensor } from "../../src/vae/reference/tensor.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "../vae/golden.js";

const dir = goldenSet("text_connector");
afterAll(() => releaseGpu());

describe.skipIf(!dir)("text path on the GPU vs golden text_connector and the CPU reference", () => {
  it("features and contexts within 1e-5 of the golden; other paddings match the CPU reference", async () => {
    const config = textConnectorsConfig(readConfig(dir!).transformer_config as Record<string, unknown>, "config.json");
    const tensors = await readTensors(join(dir!, "tensors.safetensors"));
    const file = join(dir!, "embeddings_processor.safetensors");
    const source = await openWeights(file);
    const weights = await loadEmbeddingsProcessor(source, config, file);
    await source.close();
    const gpu = await GpuTextPath.create(config, weights);
    const mask = tensor(tensors, "attention_mask");
    const features = await gpu.extractFeatures(tensor(tensors, "hidden_states"), mask);
    expect(maxAbsErr(features.video, tensor(tensors, "video_features"))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsErr(features.audio, tensor(tensors, "audio_features"))).toBeLessThanOrEqual(1e-5);
    const out = await gpu.createEmbeddings(tensor(tensors, "video_features"), tensor(tensors, "audio_features"), mask);
    expect(maxAbsErr(out.video, tensor(tensors, "video_context"))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsErr(out.audio, tensor(tensors, "audio_context"))).toBeLessThanOrEqual(1e-5);
    expect(Array.from(out.mask.data)).toEqual(Array.from(tensor(tensors, "context_mask").data));
    // A batch of two with padding on both sides and none at all (T = 9, 3 registers).
    const two = (t: ReturnType<typeof tensor>) =>
      hostTensor([2, ...t.shape.slice(1)], Float32Array.from([...t.data, ...t.data.map((v) => -v)]));
    const masks = hostTensor([2, 9], Float32Array.from([0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
    const [vf, af] = [two(tensor(tensors, "video_features")), two(tensor(tensors, "audio_features"))];
    const cpu = createEmbeddingsReference(vf, af, masks, config, weights);
    const got = await gpu.createEmbeddings(vf, af, masks);
    expect(maxAbsErr(got.video, cpu.video)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsErr(got.audio, cpu.audio)).toBeLessThanOrEqual(1e-5);
    gpu.dispose();
    // bf16 matrices: the same contexts to bf16 precision.
    const half = await GpuTextPath.create(config, weights, { weightDtype: "bf16" });
    const bf16 = await half.createEmbeddings(vf, af, masks);
    half.dispose();
    expect(maxAbsErr(bf16.video, cpu.video)).toBeGreaterThan(0);
    expect(maxAbsErr(bf16.video, cpu.video)).toBeLessThan(0.05);
  });
});
