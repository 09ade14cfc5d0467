import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type VideoVaeConfig, videoScaleFactors, videoVaeConfig } from "../../src/vae/config.js";
import { loadVideoVae } from "../../src/vae/load.js";
import type { HostTensor } from "../../src/vae/reference/tensor.js";
import { decodeVideoReference, encodeVideoReference } from "../../src/vae/reference/video-vae.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "./golden.js";

const dir = goldenSet("video_vae");

describe.skipIf(!dir)("video VAE CPU reference vs golden video_vae", () => {
  const setup = async () => {
    const config: VideoVaeConfig = videoVaeConfig(
      readConfig(dir!).vae_metadata as Record<string, unknown>,
      "config.json",
    );
    const tensors = await readTensors(join(dir!, "tensors.safetensors"));
    return { config, tensors };
  };

  it("encodes the golden video to the golden latent, every intermediate matching", async () => {
    const { config, tensors } = await setup();
    const file = join(dir!, "video_encoder.safetensors");
    const source = await openWeights(file);
    const encoder = await loadVideoVae("encoder", source, config, file);
    await source.close();
    const errors: Record<string, number> = {};
    const trace = (name: string, value: HostTensor) => {
      if (tensors.has(name)) errors[name] = maxAbsErr(value, tensor(tensors, name));
    };
    const latent = encodeVideoReference(
      tensor(tensors, "video"),
      encoder.layout,
      encoder.weights,
      config.patchSize,
      videoScaleFactors(config),
      trace,
    );
    errors.latent = maxAbsErr(latent, tensor(tensors, "latent"));
    for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThanOrEqual(1e-4);
    expect(Object.keys(errors)).toHaveLength(14);
  });

  it("decodes the golden latent to the golden video", async () => {
    const { config, tensors } = await setup();
    const file = join(dir!, "video_decoder.safetensors");
    const source = await openWeights(file);
    const decoder = await loadVideoVae("decoder", source, config, file);
    await source.close();
    const errors: Record<string, number> = {};
    const trace = (name: string, value: HostTensor) => {
      if (tensors.has(name)) errors[name] = maxAbsErr(value, tensor(tensors, name));
    };
    const decoded = decodeVideoReference(
      tensor(tensors, "latent"),
      decoder.layout,
      decoder.weights,
      config.patchSize,
      trace,
    );
    errors.decoded = maxAbsErr(decoded, tensor(tensors, "decoded"));
    for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThanOrEqual(2e-4);
    expect(Object.keys(errors)).toHaveLength(14);
  });
});
