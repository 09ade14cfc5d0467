import {
  initLoraWeights,
  type LoraTarget,
  type LoraTensors,
  type LtxTransformerConfig,
  patchifyAudio,
  patchifyVideo,
} from "@a2v/ltx-model";
import { createRng, type Rng } from "../random.js";
import { type A2VPreparedStep, prepareA2VStep } from "../strategy.js";
import type { ShiftedLogitNormalSampler } from "../timestep-sampler.js";
import type { TrainingExample } from "./examples.js";

/**
 * An independent generator for stream `stream` of draw `index`: randomness is a pure function of (seed, index),
 * so the only RNG state a resumed run needs is the step counter.
 */
export function streamRng(seed: number, stream: number, index: number): Rng {
  let h = Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae3d) ^ Math.imul(index >>> 0, 0x27d4eb2f);
  return createRng((h ^ (h >>> 13)) >>> 0);
}

const ORDER_STREAM = 0;
const NOISE_STREAM = 1;
const LORA_INIT_STREAM = 2;
const EVALUATION_STREAM = 3;

/** The LoRA a run with `seed` starts from: PEFT's init (A Kaiming-uniform, B zero) on its own stream. */
export function initialLora(targets: readonly LoraTarget[], rank: number, seed: number): LoraTensors {
  return initLoraWeights(targets, rank, streamRng(seed, LORA_INIT_STREAM, 0).uniform);
}

/** Which example draw `draw` (0-based, over the whole run) uses: a seeded permutation per epoch. */
export function exampleIndex(seed: number, draw: number, count: number): number {
  const epoch = Math.floor(draw / count);
  const rng = streamRng(seed, ORDER_STREAM, epoch);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order[draw % count]!;
}

/** The a2v step of an example at σ with noise from `rng`: the first latent frame clean, audio frozen. */
function a2vStep(config: LtxTransformerConfig, example: TrainingExample, sigma: number, rng: Rng): A2VPreparedStep {
  const [channels, frames, height, width] = example.videoLatents.shape as [number, number, number, number];
  const grid = { frames, height, width };
  const videoClean = patchifyVideo(example.videoLatents.data, channels, grid);
  const noise = rng.fillNormal(new Float32Array(videoClean.length));
  const [audioChannels, audioFrames, melBins] = example.audioLatents.shape as [number, number, number];
  return prepareA2VStep(config, {
    videoClean,
    noise,
    sigma,
    grid,
    fps: example.fps,
    audioClean: patchifyAudio(example.audioLatents.data, audioChannels, audioFrames, melBins),
    videoContext: example.videoContext.data,
    audioContext: example.audioContext.data,
  });
}

/** The a2v step of draw `draw`: σ from the sampler for the video token count, seeded noise. */
export function drawA2VStep(
  config: LtxTransformerConfig,
  example: TrainingExample,
  sampler: ShiftedLogitNormalSampler,
  seed: number,
  draw: number,
): { step: A2VPreparedStep; sigma: number } {
  const [, frames, height, width] = example.videoLatents.shape as [number, number, number, number];
  const rng = streamRng(seed, NOISE_STREAM, draw);
  const sigma = sampler.sample(frames * height * width, rng);
  return { step: a2vStep(config, example, sigma, rng), sigma };
}

/** Evaluation draw `index` at a fixed σ, on its own stream: the same noise before and after training. */
export function evaluationDraw(
  config: LtxTransformerConfig,
  example: TrainingExample,
  sigma: number,
  seed: number,
  index: number,
): A2VPreparedStep {
  return a2vStep(config, example, sigma, streamRng(seed, EVALUATION_STREAM, index));
}
