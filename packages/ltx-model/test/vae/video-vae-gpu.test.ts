import { join } from "node:path";
import { bucketSize, init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { videoVaeConfig } from "../../src/vae/config.js";
import { toGpu, toHost } from "../../src/vae/gpu-tensors.js";
import { loadVideoVae } from "../../src/vae/load.js";
import { planVideoVaeMemory } from "../../src/vae/memory.js";
import { GpuVideoVae } from "../../src/vae/video-vae-gpu.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "./golden.js";
import { poolPeak } from "./pool-peak.js";

const dir = goldenSet("video_vae");
afterAll(() => releaseGpu());

describe.skipIf(!dir)("video VAE on the GPU vs golden video_vae", () => {
  for (const part of ["encoder", "decoder"] as const) {
    it(`${part}: output and every intermediate match the golden; the memory plan is the pool's peak`, async () => {
      await init();
      const config = videoVaeConfig(readConfig(dir!).vae_metadata as Record<string, unknown>, "config.json");
      const tensors = await readTensors(join(dir!, "tensors.safetensors"));
      const file = join(dir!, `video_${part}.safetensors`);
      const source = await openWeights(file);
      const loaded = await loadVideoVae(part, source, config, file);
      await source.close();
      const vae = await GpuVideoVae.create({ [part]: loaded });
      const errors: Record<string, number> = {};
      const trace = async (name: string, value: Parameters<typeof toHost>[0]) => {
        if (tensors.has(name)) errors[name] = maxAbsErr(await toHost(value), tensor(tensors, name));
      };
      const [input, output, tol] = part === "encoder" ? ["video", "latent", 1e-4] : ["latent", "decoded", 2e-4];
      const x = toGpu(tensor(tensors, input));
      const run = () => (part === "encoder" ? vae.encode(x, trace) : vae.decode(x, trace));
      const y = await run();
      errors[output] = maxAbsErr(await toHost(y), tensor(tensors, output));
      y.dispose();
      // The memory plan replays the runner's allocations: its peak is what the pool really handed out.
      const { result, peak, leftover } = await poolPeak(() => (part === "encoder" ? vae.encode(x) : vae.decode(x)));
      const plan = planVideoVaeMemory(loaded.layout, config.patchSize, part, [...x.shape]);
      expect(peak).toBe(plan.peakActivationBytes);
      expect(result.shape).toEqual(plan.outputShape);
      expect(leftover).toBe(bucketSize(result.size * 4));
      result.dispose();
      x.dispose();
      vae.dispose();
      for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThanOrEqual(tol as number);
      expect(Object.keys(errors).length).toBeGreaterThanOrEqual(13);
    });
  }
});
