import { isA2VError } from "@a2v/errors";
import { describe, expect, it } from "vitest";
import { numel } from "../../src/layout.js";
import { LTX23_VAE, videoScaleFactors, videoVaeConfig, videoVaeConfigFromMetadata } from "../../src/vae/config.js";
import { layoutParameters, videoDecoderLayout, videoEncoderLayout } from "../../src/vae/layout.js";
import { loadVideoVae } from "../../src/vae/load.js";
import { MemoryWeights } from "../../src/weights/checkpoint.js";

const count = (params: { shape?: number[] }[]) => params.reduce((s, p) => s + numel(p.shape!), 0);

describe("video VAE config and layout", () => {
  it("builds the released 2.3 VAE: 8x32x32 compression, ~319M encoder / ~407M decoder parameters", () => {
    const config = videoVaeConfigFromMetadata({ config: JSON.stringify({ vae: LTX23_VAE }) }, "ltx-2.3.safetensors");
    expect(videoScaleFactors(config)).toEqual({ time: 8, height: 32, width: 32 });
    const enc = videoEncoderLayout(config);
    const dec = videoDecoderLayout(config);
    expect(enc.convOut).toMatchObject({ inChannels: 1024, outChannels: 129 });
    expect(dec.convIn).toMatchObject({ inChannels: 128, outChannels: 1024 });
    expect(dec.convOut).toMatchObject({ inChannels: 128, outChannels: 48 });
    expect(count(layoutParameters(enc)) / 1e6).toBeCloseTo(319, -1);
    expect(count(layoutParameters(dec)) / 1e6).toBeCloseTo(407, -1);
  });

  it("rejects configurations it does not implement, naming the file and field", () => {
    const bad = { ...LTX23_VAE, timestep_conditioning: true };
    expect(() => videoVaeConfig(bad, "ltx-2.0.safetensors")).toThrow(/ltx-2.0.safetensors: .*timestep_conditioning/);
    expect(() => videoVaeConfig({ ...LTX23_VAE, norm_layer: "group_norm" }, "f")).toThrow(/norm_layer/);
  });

  it("names the file and missing keys when a checkpoint lacks the VAE or part of it", async () => {
    const config = videoVaeConfig({ ...LTX23_VAE, latent_channels: 8, decoder_base_channels: 8 });
    const params = layoutParameters(videoEncoderLayout(config));
    // A released-layout checkpoint (vae.encoder.*, vae.per_channel_statistics.*) missing one conv.
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of params) {
      if (p.key.startsWith("down_blocks.1.")) continue;
      const key = p.key.startsWith("per_channel_statistics.") ? `vae.${p.key}` : `vae.encoder.${p.key}`;
      tensors.set(key, { shape: p.shape!, data: new Float32Array(numel(p.shape!)) });
    }
    const partial = loadVideoVae("encoder", new MemoryWeights(tensors), config, "pack/transformer.safetensors");
    await expect(partial).rejects.toThrow(
      /pack\/transformer.safetensors: video VAE encoder: missing keys: vae.encoder.down_blocks.1.conv.conv.weight/,
    );
    const empty = await loadVideoVae("decoder", new MemoryWeights(new Map()), config, "split.safetensors").catch(
      (e) => e,
    );
    expect(isA2VError(empty) && empty.code).toBe("checkpoint_component_missing");
    expect(empty.message).toMatch(
      /split.safetensors: video VAE decoder: the checkpoint has none of its keys: vae.decoder.conv_in/,
    );
  });
});
