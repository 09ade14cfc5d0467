import { createHash } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { HostTensor } from "@a2v/tensor-webgpu";
import { SafetensorsFile, writeSafetensors } from "../weights/safetensors.js";

/** What the trainer keeps per caption: the feature extractor's outputs and the token mask. */
export interface CaptionFeatures {
  /** [T, videoDim] */
  video: HostTensor;
  /** [T, audioDim] */
  audio: HostTensor;
  /** [T] 1 valid / 0 padding. */
  mask: HostTensor;
}

const NAMES = ["video", "audio", "mask"] as const;

/**
 * Encoded captions on disk, one safetensors file per (model, text), so each caption of a dataset is
 * run through Gemma and the feature extractor once. `model` must identify everything that shapes
 * the features (text encoder weights, feature extractor, max length), e.g. checkpoint names and sizes.
 * Concurrent requests for the same caption share one computation.
 */
export class CaptionCache {
  private readonly inFlight = new Map<string, Promise<CaptionFeatures>>();

  constructor(readonly dir: string) {}

  /** sha256 of the model identity and the exact caption text. */
  static key(model: string, text: string): string {
    return createHash("sha256")
      .update(JSON.stringify([model, text]))
      .digest("hex");
  }

  path(model: string, text: string): string {
    return join(this.dir, `${CaptionCache.key(model, text)}.safetensors`);
  }

  /** The cached features, or undefined when absent, unreadable or written for another text/model. */
  async get(model: string, text: string): Promise<CaptionFeatures | undefined> {
    let file: SafetensorsFile;
    try {
      file = await SafetensorsFile.open(this.path(model, text));
    } catch {
      return undefined;
    }
    try {
      if (file.metadata.model !== model || file.metadata.text !== text) return undefined;
      if (!NAMES.every((n) => file.has(n))) return undefined;
      const read = async (n: (typeof NAMES)[number]) => ({
        shape: [...file.entry(n).shape],
        data: await file.readFloat32(n),
      });
      return { video: await read("video"), audio: await read("audio"), mask: await read("mask") };
    } finally {
      await file.close();
    }
  }

  /** Stores features atomically (written beside, then renamed), so a crash never leaves half a file. */
  async set(model: string, text: string, features: CaptionFeatures): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = this.path(model, text);
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    const tensors = NAMES.map((name) => {
      const t = features[name];
      return {
        name,
        dtype: "F32" as const,
        shape: t.shape,
        data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      };
    });
    try {
      await writeSafetensors(tmp, tensors, { model, text });
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  /** Cached features, computing and storing them on a miss; `compute` runs once per caption. */
  async getOrCompute(model: string, text: string, compute: () => Promise<CaptionFeatures>): Promise<CaptionFeatures> {
    const key = CaptionCache.key(model, text);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const work = (async () => {
      const hit = await this.get(model, text);
      if (hit) return hit;
      const features = await compute();
      await this.set(model, text, features);
      return features;
    })();
    this.inFlight.set(key, work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(key);
    }
  }
}
