import { writeFile } from "node:fs/promises";
import { type FfmpegFailure, runFfmpeg } from "@a2v/audio";
import { A2VError } from "@a2v/errors";

/** What the service's `config_file` output describes: how to use the LoRA (trigger phrase, mode) and how it was made. */
export interface TrainingConfigFile {
  training_type: "a2v";
  trigger_phrase: string;
  base_model: string;
  lora: {
    rank: number;
    alpha: number;
    target_modules: string[];
    /** alpha/rank is folded into lora_B, so every loader applies the trained scale at strength 1. */
    scale_folded_into_lora_B: true;
  };
  training: Record<string, unknown>;
  inference: { number_of_frames: number; frame_rate: number; conditioning: string[] };
}

export interface TrainingConfigInput {
  triggerPhrase: string;
  baseModel: string;
  rank: number;
  alpha: number;
  targetModules: string[];
  numberOfFrames: number;
  frameRate: number;
  /** The rest of the training settings, recorded as given. */
  training: Record<string, unknown>;
}

export function trainingConfigFile(c: TrainingConfigInput): TrainingConfigFile {
  return {
    training_type: "a2v",
    trigger_phrase: c.triggerPhrase,
    base_model: c.baseModel,
    lora: { rank: c.rank, alpha: c.alpha, target_modules: [...c.targetModules], scale_folded_into_lora_B: true },
    training: { ...c.training },
    inference: {
      number_of_frames: c.numberOfFrames,
      frame_rate: c.frameRate,
      conditioning: ["start image as the first frame", "audio track (frozen, drives the motion)"],
    },
  };
}

export async function writeTrainingConfigFile(path: string, c: TrainingConfigInput): Promise<TrainingConfigFile> {
  const config = trainingConfigFile(c);
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
  return config;
}

/**
 * Joins validation previews (mp4 with audio, same size and rate) one after another into the combined reel the service
 * returns as `video`. Re-encodes (H.264 yuv420p + AAC, faststart) so the reel plays in browsers whatever the inputs were.
 */
export async function concatenateVideos(inputs: string[], output: string): Promise<void> {
  if (inputs.length === 0) throw new A2VError("reel_empty", "a validation reel needs at least one video");
  const args: string[] = [];
  for (const input of inputs) args.push("-i", input);
  const streams = inputs.map((_, i) => `[${i}:v:0][${i}:a:0]`).join("");
  args.push(
    "-filter_complex",
    `${streams}concat=n=${inputs.length}:v=1:a=1[v][a]`,
    "-map",
    "[v]",
    "-map",
    "[a]",
    // Keep exactly the previews' frames: constant-rate muxing would duplicate frames where AAC padding runs longer.
    "-vsync",
    "passthrough",
    "-c:v",
    "libx264",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-movflags",
    "+faststart",
    output,
  );
  await runFfmpeg(args).catch((error: FfmpegFailure) => {
    throw new A2VError("reel_failed", `could not join ${inputs.join(", ")} into ${output}: ${error.reason}`, {
      cause: error,
    });
  });
}
