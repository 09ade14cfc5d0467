import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ActiveLora, LtxModel, LtxTransformer } from "@a2v/ltx-model";
import { makeReel, type ReelPreview, type ValidationRequest, ValidationSampler } from "@a2v/trainer";
import { resolutionFor } from "../buckets.js";
import type { TrainInput } from "../input.js";
import type { TrainEvent } from "./events.js";

const PREVIEW_FILE = /^step_(\d{5,})_(\d+)\.mp4$/;

/**
 * The validation previews of one run: every `validation` entry sampled with the LoRA as it stands at a step, into
 * `outDir/previews/step_NNNNN_K.mp4` (kept across a resume, so the reel covers the whole run), and the reel of all
 * of them in step order.
 */
export class Previews {
  private readonly dir: string;

  private constructor(
    private readonly sampler: ValidationSampler,
    private readonly requests: { request: ValidationRequest; prompt: string }[],
    outDir: string,
    private readonly emit: (event: TrainEvent) => void,
  ) {
    this.dir = join(outDir, "previews");
  }

  /**
   * Undefined when the input has no validation entries. Previews of an earlier attempt are kept up to `fromStep`
   * (the step a resumed run continues from; 0 for a fresh run), later ones removed.
   */
  static async create(
    model: LtxModel,
    input: TrainInput,
    options: { outDir: string; cacheDir: string; seed: number; fromStep: number; allowPrivateNetwork?: boolean },
    emit: (event: TrainEvent) => void,
  ): Promise<Previews | undefined> {
    if (input.validation.length === 0) return undefined;
    const sampler = await ValidationSampler.create(model, {
      cacheDir: options.cacheDir,
      allowPrivateNetwork: options.allowPrivateNetwork,
    });
    const requests = input.validation.map((v) => ({
      prompt: v.prompt,
      request: {
        image: v.image_url,
        audio: v.audio_url,
        prompt: v.prompt,
        negativePrompt: input.validation_negative_prompt,
        frames: input.validation_number_of_frames,
        fps: input.validation_frame_rate,
        bucket: resolutionFor(input.validation_resolution, input.validation_aspect_ratio),
        stgScale: input.stg_scale,
        seed: options.seed,
        audioNormalize: input.audio_normalize,
        audioPreservePitch: input.audio_preserve_pitch,
      },
    }));
    const previews = new Previews(sampler, requests, options.outDir, emit);
    await mkdir(previews.dir, { recursive: true });
    for (const { name, step } of await previews.files()) {
      if (step > options.fromStep) await rm(join(previews.dir, name), { force: true });
    }
    return previews;
  }

  private async files(): Promise<{ name: string; step: number; index: number }[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names
      .map((name) => {
        const m = PREVIEW_FILE.exec(name);
        return m ? { name, step: Number(m[1]), index: Number(m[2]) } : undefined;
      })
      .filter((f): f is { name: string; step: number; index: number } => f !== undefined)
      .sort((a, b) => a.step - b.step || a.index - b.index);
  }

  /** Samples every entry with `lora` on `backend` (training's: the LoRA as trained so far), emitting each file. */
  async sampleAt(step: number, backend: LtxTransformer, lora: ActiveLora, signal?: AbortSignal): Promise<number> {
    let seconds = 0;
    for (const [index, { request, prompt }] of this.requests.entries()) {
      const file = join(this.dir, `step_${String(step).padStart(5, "0")}_${index}.mp4`);
      const result = await this.sampler.sample(backend, lora, request, file, { signal });
      seconds += result.seconds.total;
      this.emit({ type: "preview", step, index, prompt, file, seconds: result.seconds.total });
    }
    return seconds;
  }

  /** The reel of every preview of the run, in step order (the service's `video`). */
  async reel(out: string): Promise<string> {
    const previews: ReelPreview[] = (await this.files()).map(({ name, step, index }) => ({
      file: join(this.dir, name),
      step,
      prompt: this.requests[index]?.prompt ?? "",
    }));
    await makeReel(previews, out);
    return out;
  }

  async dispose(): Promise<void> {
    await this.sampler.dispose();
  }
}
