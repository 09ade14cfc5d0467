import { A2VError } from "@a2v/errors";
import type { LtxTransformerConfig } from "@a2v/ltx-model";
import type { HostTensor } from "@a2v/tensor-webgpu";

/**
 * One training example as encoder outputs: video latents `[128, F, H, W]` (normalised VAE means; the first latent
 * frame is the start image), frozen audio latents `[8, T, 16]`, and the text contexts `[L, width]`.
 */
export interface TrainingExample {
  videoLatents: HostTensor;
  audioLatents: HostTensor;
  videoContext: HostTensor;
  audioContext: HostTensor;
  fps: number;
}

export type ExampleSource = readonly TrainingExample[] | Iterable<TrainingExample> | AsyncIterable<TrainingExample>;

function invalid(index: number, message: string): A2VError {
  return new A2VError("training_example_invalid", `training example ${index}: ${message}`, {
    status: 422,
    details: [{ code: "training_example_invalid", message, path: ["examples", index] }],
  });
}

function checkTensor(index: number, name: string, t: HostTensor, expected: (number | undefined)[]): void {
  const shape = [...t.shape];
  const matches =
    shape.length === expected.length &&
    shape.every((d, i) => Number.isInteger(d) && d > 0 && (expected[i] === undefined || d === expected[i]));
  if (!matches) {
    const want = expected.map((d) => d ?? "*").join(", ");
    throw invalid(index, `${name} has shape [${shape}], expected [${want}]`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== size)
    throw invalid(index, `${name} holds ${t.data.length} values, its shape [${shape}] needs ${size}`);
}

/** Checks one example against the model; errors name the example's index. */
export function validateExample(config: LtxTransformerConfig, example: TrainingExample, index: number): void {
  checkTensor(index, "videoLatents", example.videoLatents, [config.inChannels, undefined, undefined, undefined]);
  if (example.videoLatents.shape[1]! < 2) {
    throw invalid(index, "videoLatents needs at least 2 latent frames (the first is the clean start image)");
  }
  checkTensor(index, "audioLatents", example.audioLatents, [undefined, undefined, undefined]);
  const [audioChannels, , melBins] = example.audioLatents.shape as [number, number, number];
  if (audioChannels * melBins !== config.audioInChannels) {
    throw invalid(
      index,
      `audioLatents [${example.audioLatents.shape}] flatten to ${audioChannels * melBins} features per frame, the model takes ${config.audioInChannels}`,
    );
  }
  checkTensor(index, "videoContext", example.videoContext, [undefined, config.crossAttentionDim]);
  checkTensor(index, "audioContext", example.audioContext, [undefined, config.audioCrossAttentionDim]);
  if (!(example.fps > 0)) throw invalid(index, `fps must be positive, got ${example.fps}`);
}

/**
 * Reads every example (an array, iterable or async iterable) and validates it. Examples are precomputed latents
 * (a LoRA dataset is tens of clips), so holding them lets each epoch visit them in a fresh seeded order.
 */
export async function collectExamples(config: LtxTransformerConfig, source: ExampleSource): Promise<TrainingExample[]> {
  const out: TrainingExample[] = [];
  for await (const example of source as AsyncIterable<TrainingExample>) {
    validateExample(config, example, out.length);
    out.push(example);
  }
  if (out.length === 0) throw new A2VError("training_no_examples", "no training examples were given", { status: 422 });
  return out;
}
