import { join } from "node:path";
import { hostTensor, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { textConnectorsConfig } from "../../src/text/config.js";
import { loadEmbeddingsProcessor } from "../../src/text/load.js";
import { TextPath } from "../../src/text/text-path.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "../vae/golden.js";

const dir = goldenSet("text_connector");
afterAll(() => releaseGpu());

describe.skipIf(!dir)("text path: other paddings and bf16 weights, CPU device vs GPU", () => {
  it("a batch of two (padding on both sides, none at all) agrees across devices; bf16 matrices to bf16 precision", async () => {
    const config = textConnectorsConfig(readConfig(dir!).transformer_config as Record<string, unknown>, "config.json");
    const tensors = await readTensors(join(dir!, "tensors.safetensors"));
    const file = join(dir!, "embeddings_processor.safetensors");
    const source = await openWeights(file);
    const weights = await loadEmbeddingsProcessor(source, config, file);
    await source.close();
    // T = 9, 3 registers.
    const two = (t: ReturnType<typeof tensor>) =>
      hostTensor([2, ...t.shape.slice(1)], Float32Array.from([...t.data, ...t.data.map((v) => -v)]));
    const masks = hostTensor([2, 9], Float32Array.from([0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
    const [vf, af] = [two(tensor(tensors, "video_features")), two(tensor(tensors, "audio_features"))];
    const cpuPath = await TextPath.create(config, weights, { device: "cpu" });
    const cpu = await cpuPath.createEmbeddings(vf, af, masks);
    cpuPath.dispose();
    const gpuPath = await TextPath.create(config, weights);
    expect(gpuPath.device).toBe("gpu");
    const gpu = await gpuPath.createEmbeddings(vf, af, masks);
    gpuPath.dispose();
    expect(maxAbsErr(gpu.video, cpu.video)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsErr(gpu.audio, cpu.audio)).toBeLessThanOrEqual(1e-5);
    // The second sequence's pads sit elsewhere: its contexts differ from the first's.
    expect(
      maxAbsErr(hostTensor([9, 32], cpu.video.data.slice(0, 288)), hostTensor([9, 32], cpu.video.data.slice(288))),
    ).toBeGreaterThan(1e-2);
    for (const device of ["cpu", "gpu"] as const) {
      const half = await TextPath.create(config, weights, { weightDtype: "bf16", device });
      const bf16 = await half.createEmbeddings(vf, af, masks);
      half.dispose();
      expect(maxAbsErr(bf16.video, cpu.video), device).toBeGreaterThan(0);
      expect(maxAbsErr(bf16.video, cpu.video), device).toBeLessThan(0.05);
    }
  });
});
