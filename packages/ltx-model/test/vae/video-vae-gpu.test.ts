import { join } from "node:path";
import { releaseGpu, requestGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { videoVaeConfig } from "../../src/vae/config.js";
import { gpuMemory } from "../../src/vae/gpu/runtime.js";
import { GpuVideoVae } from "../../src/vae/gpu/video-vae.js";
import { loadVideoVae } from "../../src/vae/load.js";
import { planVideoVaeMemory } from "../../src/vae/memory.js";
import type { HostTensor } from "../../src/vae/reference/tensor.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "./golden.js";

const dir = goldenSet("video_vae");
afterAll(() => releaseGpu());

describe.skipIf(!dir)("video VAE on the GPU vs golden video_vae", () => {
  for (const part of ["encoder", "decoder"] as const) {
    it(`${part}: output and every intermediate match the golden`, async () => {
      const { device } = await requestGpu();
      const config = videoVaeConfig(readConfig(dir!).vae_metadata as Record<string, unknown>, "config.json");
      const tensors = await readTensors(join(dir!, "tensors.safetensors"));
      const file = join(dir!, `video_${part}.safetensors`);
      const source = await openWeights(file);
      const vae = GpuVideoVae.create(device, await loadVideoVae(part, source, config, file), part);
      await source.close();
      const errors: Record<string, number> = {};
      const trace = (name: string, value: HostTensor) => {
        if (tensors.has(name)) errors[name] = maxAbsErr(value, tensor(tensors, name));
      };
      const [input, output, tol] = part === "encoder" ? ["video", "latent", 1e-4] : ["latent", "decoded", 2e-4];
      errors[output] = maxAbsErr(await vae.run(tensor(tensors, input), trace), tensor(tensors, output));
      // The memory plan replays the runner's allocations: its peak is what the run really held.
      const baseline = gpuMemory.live;
      gpuMemory.peak = baseline;
      await vae.run(tensor(tensors, input));
      const plan = planVideoVaeMemory(vae.vae.layout, config.patchSize, part, tensor(tensors, input).shape.slice(1));
      expect(gpuMemory.peak - baseline).toBe(plan.peakActivationBytes);
      expect(gpuMemory.live).toBe(baseline);
      vae.destroy();
      for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThanOrEqual(tol as number);
      expect(Object.keys(errors).length).toBeGreaterThanOrEqual(13);
    });
  }
});
