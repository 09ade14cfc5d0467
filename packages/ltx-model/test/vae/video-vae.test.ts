import { join } from "node:path";
import { bucketSize, type Device, init, releaseGpu, type Tensor } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { videoVaeConfig } from "../../src/vae/config.js";
import { loadVideoVae } from "../../src/vae/load.js";
import { planVideoVaeMemory } from "../../src/vae/memory.js";
import { fromHost, toHost } from "../../src/vae/tensors.js";
import { VideoVae } from "../../src/vae/video-vae.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "./golden.js";
import { poolPeak } from "./pool-peak.js";

const dir = goldenSet("video_vae");
afterAll(() => releaseGpu());

// One model code on both devices: the CPU device (f64, the reference) and the GPU.
describe.skipIf(!dir)("video VAE vs golden video_vae", () => {
  for (const device of ["cpu", "gpu"] as Device[]) {
    for (const part of ["encoder", "decoder"] as const) {
      it(`${part} on the ${device} device: output and every intermediate match the golden${device === "gpu" ? "; the memory plan is the pool's peak" : ""}`, async () => {
        if (device === "gpu") await init();
        const config = videoVaeConfig(readConfig(dir!).vae_metadata as Record<string, unknown>, "config.json");
        const tensors = await readTensors(join(dir!, "tensors.safetensors"));
        const file = join(dir!, `video_${part}.safetensors`);
        const source = await openWeights(file);
        const loaded = await loadVideoVae(part, source, config, file);
        await source.close();
        const vae = await VideoVae.create({ [part]: loaded }, { device });
        expect(vae.device).toBe(device);
        const errors: Record<string, number> = {};
        const trace = async (name: string, value: Tensor) => {
          if (tensors.has(name)) errors[name] = maxAbsErr(await toHost(value), tensor(tensors, name));
        };
        const [input, output, tol] = part === "encoder" ? ["video", "latent", 1e-4] : ["latent", "decoded", 2e-4];
        const x = fromHost(tensor(tensors, input), device);
        const y = await (part === "encoder" ? vae.encode(x, trace) : vae.decode(x, trace));
        expect(y.device).toBe(device);
        errors[output] = maxAbsErr(await toHost(y), tensor(tensors, output));
        y.dispose();
        if (device === "gpu") {
          // The memory plan replays the runner's allocations: its peak is what the pool really handed out.
          const { result, peak, leftover } = await poolPeak(() => (part === "encoder" ? vae.encode(x) : vae.decode(x)));
          const plan = planVideoVaeMemory(loaded.layout, config.patchSize, part, [...x.shape]);
          expect(peak).toBe(plan.peakActivationBytes);
          expect(result.shape).toEqual(plan.outputShape);
          expect(leftover).toBe(bucketSize(result.size * 4));
          result.dispose();
        }
        x.dispose();
        vae.dispose();
        const worst = Math.max(...Object.values(errors));
        console.log(`video VAE ${part} (${device}): worst max abs error ${worst.toExponential(2)}`);
        for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThanOrEqual(tol as number);
        expect(Object.keys(errors)).toHaveLength(14);
      });
    }
  }
});
