import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { encodeFloats, SafetensorsFile, writeSafetensors } from "@a2v/ltx-model/weights";
import type { HostTensor } from "@a2v/tensor-webgpu";
import type { TrainingExample } from "../loop/examples.js";
import type { EncodableSample } from "./sample-encoder.js";

const TENSORS = ["videoLatents", "audioLatents", "videoContext", "audioContext"] as const;

/**
 * Encoded examples on disk, addressed by the model and the sample's exact content (pixels, PCM, caption, size,
 * rate): a second run on the same data and settings reads latents back instead of running the encoders.
 * Entries are written atomically, so a killed run leaves either a whole entry or none.
 */
export class LatentCache {
  constructor(
    readonly dir: string,
    private readonly modelId: string,
  ) {}

  key(sample: EncodableSample): string {
    const hash = createHash("sha256");
    hash.update(JSON.stringify([this.modelId, sample.frames, sample.width, sample.height, sample.fps]));
    hash.update(JSON.stringify([sample.sampleRate, sample.audio.length, sample.caption]));
    hash.update(sample.pixels);
    for (const channel of sample.audio)
      hash.update(new Uint8Array(channel.buffer, channel.byteOffset, channel.byteLength));
    return hash.digest("hex");
  }

  private path(key: string): string {
    return join(this.dir, `${key}.safetensors`);
  }

  /** The cached example, or undefined when absent or unreadable. */
  async get(key: string): Promise<TrainingExample | undefined> {
    let file: SafetensorsFile;
    try {
      file = await SafetensorsFile.open(this.path(key));
    } catch {
      return undefined;
    }
    try {
      if (!TENSORS.every((name) => file.has(name)) || file.metadata.fps === undefined) return undefined;
      const read = async (name: (typeof TENSORS)[number]): Promise<HostTensor> => ({
        shape: [...file.entry(name).shape],
        data: await file.readFloat32(name),
      });
      return {
        videoLatents: await read("videoLatents"),
        audioLatents: await read("audioLatents"),
        videoContext: await read("videoContext"),
        audioContext: await read("audioContext"),
        fps: Number(file.metadata.fps),
      };
    } catch {
      return undefined;
    } finally {
      await file.close();
    }
  }

  async put(key: string, example: TrainingExample): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tensors = TENSORS.map((name) => ({
      name,
      dtype: "F32" as const,
      shape: [...example[name].shape],
      data: encodeFloats(example[name].data, "F32"),
    }));
    await writeSafetensors(this.path(key), tensors, { fps: String(example.fps), model: this.modelId });
  }
}
