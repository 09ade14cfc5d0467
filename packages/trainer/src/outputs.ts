import { writeFile } from "node:fs/promises";

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
