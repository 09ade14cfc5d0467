import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import { type AudioVaeEncoderConfig, audioVaeEncoderConfigFromMetadata } from "../audio-vae/config.js";
import type { LtxTransformerConfig } from "../config.js";
import { type TextConnectorsConfig, textConnectorsConfigFromMetadata } from "../text/config.js";
import { type GemmaConfig, gemmaConfig } from "../text/gemma/config.js";
import { openWeightFile } from "../vae/component-weights.js";
import { type VideoVaeConfig, videoVaeConfigFromMetadata } from "../vae/config.js";
import { TransformerCheckpoint, type WeightSource } from "../weights/checkpoint.js";

/** Where a model lives, as upstream lays it out: the single-file LTX-2.3 checkpoint and the Gemma 3 folder. */
export interface LtxModelPaths {
  checkpoint: string;
  /** Gemma 3 folder: `config.json`, `model.safetensors` (or an index and shards), `tokenizer.json`, `tokenizer_config.json`. */
  textEncoder: string;
}

/** An opened model: every component's config read from the files, weights read lazily on demand. */
export interface LtxModel {
  paths: LtxModelPaths;
  /** Identifies the weights (names, sizes, modification times, metadata) for content-addressed caches. */
  id: string;
  transformer: LtxTransformerConfig;
  videoVae: VideoVaeConfig;
  audioVae: AudioVaeEncoderConfig;
  text: TextConnectorsConfig;
  gemma: GemmaConfig;
  /** Every tensor of the checkpoint under its file key (VAEs, audio VAE, text projection, connectors). */
  checkpoint: WeightSource;
  /** The DiT's weights under upstream module keys. */
  transformerWeights: TransformerCheckpoint;
  close(): Promise<void>;
}

async function fileIdentity(path: string): Promise<string> {
  const s = await stat(path).catch((cause: unknown) => {
    throw new A2VError("model_file_missing", `${path} is missing or unreadable`, { status: 422, cause });
  });
  return `${path}|${s.size}|${s.mtimeMs}`;
}

/**
 * Opens a model from the official files: the transformer, video VAE, audio VAE and text-connector configs come from
 * the checkpoint's `config` metadata, Gemma's from its `config.json`. Fails naming the file and what is missing.
 */
export async function openLtxModel(paths: LtxModelPaths): Promise<LtxModel> {
  const gemmaJsonPath = join(paths.textEncoder, "config.json");
  const identities = await Promise.all([fileIdentity(paths.checkpoint), fileIdentity(gemmaJsonPath)]);
  const gemmaJson = await readFile(gemmaJsonPath, "utf8");
  let gemma: GemmaConfig;
  try {
    gemma = gemmaConfig(JSON.parse(gemmaJson) as Record<string, unknown>, gemmaJsonPath);
  } catch (cause) {
    if (cause instanceof A2VError) throw cause;
    throw new A2VError("model_config_invalid", `${gemmaJsonPath} is not JSON`, { status: 422, cause });
  }
  const transformerWeights = await TransformerCheckpoint.open(paths.checkpoint);
  try {
    const metadata = transformerWeights.file.metadata;
    const videoVae = videoVaeConfigFromMetadata(metadata, paths.checkpoint);
    const audioVae = audioVaeEncoderConfigFromMetadata(metadata, paths.checkpoint);
    const text = textConnectorsConfigFromMetadata(metadata, paths.checkpoint);
    const id = createHash("sha256")
      .update(JSON.stringify([identities, metadata.config ?? "", gemmaJson]))
      .digest("hex")
      .slice(0, 32);
    const checkpoint = await openWeightFile(paths.checkpoint);
    return {
      paths,
      id,
      transformer: transformerWeights.config,
      videoVae,
      audioVae,
      text,
      gemma,
      checkpoint,
      transformerWeights,
      close: async () => {
        await checkpoint.close();
        await transformerWeights.close();
      },
    };
  } catch (error) {
    await transformerWeights.close();
    throw error;
  }
}
