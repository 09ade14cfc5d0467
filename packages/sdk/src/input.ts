import { type SampleOptions, snapNumberOfFrames } from "@a2v/dataset";
import { A2VError, type A2VErrorDetail } from "@a2v/errors";
import { z } from "zod";
import { resolutionFor } from "./buckets.js";

/** LoRA ranks the service accepts. */
export const RANKS = [8, 16, 32, 64, 128] as const;
export const RESOLUTIONS = ["low", "medium", "high"] as const;
export const ASPECT_RATIOS = ["16:9", "1:1", "9:16"] as const;
export type Resolution = (typeof RESOLUTIONS)[number];
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

/** Our own quality negative prompt, used for validation previews unless the caller sets one. */
export const DEFAULT_VALIDATION_NEGATIVE_PROMPT =
  "worst quality, low quality, blurry, out of focus, jittery, shaky camera, flickering, distorted face, " +
  "deformed hands, extra limbs, warped mouth, lips out of sync with the speech, frozen frame, watermark, text, " +
  "subtitles, logo, oversaturated, washed out colors, compression artifacts, noise, grain, banding";

/** Longest prompt (validation prompt, negative prompt) accepted, in characters. */
export const MAX_PROMPT_CHARS = 10_000;
/** Longest trigger phrase, in characters (it is prepended to every caption). */
export const MAX_TRIGGER_PHRASE_CHARS = 1_000;
/** Longest URL (training_data_url, image_url, audio_url), in characters. */
export const MAX_URL_CHARS = 8_192;

/** A URL or path: non-empty, bounded, and no surrounding whitespace (" https://…" is a typo, not a URL). */
const urlField = z
  .string()
  .min(1)
  .max(MAX_URL_CHARS)
  .regex(/^\S(?:[\s\S]*\S)?$/, { message: "must not start or end with whitespace" });
const prompt = z.string().max(MAX_PROMPT_CHARS);

const frameCount = z
  .number()
  .int()
  .min(9)
  .max(121)
  .default(89)
  // frames % 8 == 1 (the video VAE's causal 1 + 8k layout); others snap DOWN, the rule the dataset checks apply too.
  .transform(snapNumberOfFrames)
  .describe("Frames per clip, 9..121; values with frames % 8 != 1 are snapped down to the nearest valid count.");
const frameRate = z.number().int().min(8).max(60).default(24).describe("Frames per second, 8..60.");

export const ValidationSampleSchema = z
  .strictObject({
    prompt: prompt.describe("The text prompt."),
    image_url: urlField.describe("The start image used as the first frame."),
    audio_url: urlField.describe("The conditioning audio track that drives the video."),
  })
  .describe("One validation preview: start image + conditioning audio + prompt.");

/** Every input of the hosted `/a2v` trainer, with its defaults, ranges and snapping. */
export const TrainInputSchema = z
  .strictObject({
    training_data_url: urlField.describe("URL (http, https, file) or local path of the .zip of groups."),
    trigger_phrase: z
      .string()
      .max(MAX_TRIGGER_PHRASE_CHARS)
      .default("")
      .describe("Phrase prepended to captions during training."),
    rank: z.literal(RANKS).default(32).describe("LoRA rank: 8, 16, 32, 64 or 128."),
    number_of_steps: z.number().int().min(100).max(20000).default(2000).describe("Optimisation steps, 100..20000."),
    learning_rate: z.number().positive().max(1).default(0.0002).describe("Optimisation step size."),
    number_of_frames: frameCount,
    frame_rate: frameRate,
    resolution: z.enum(RESOLUTIONS).default("medium").describe("Training resolution bucket."),
    aspect_ratio: z.enum(ASPECT_RATIOS).default("1:1").describe("Training aspect ratio."),
    auto_scale_input: z.boolean().default(false).describe("Resample each target to number_of_frames at frame_rate."),
    split_input_into_scenes: z.boolean().default(false).describe("Split long synthesized clips at scene cuts."),
    split_input_duration_threshold: z
      .number()
      .min(1)
      .max(60)
      .default(30)
      .describe("Seconds above which a synthesized clip is eligible for scene splitting, 1..60."),
    audio_normalize: z.boolean().default(true).describe("Peak-normalize the conditioning audio."),
    audio_preserve_pitch: z.boolean().default(true).describe("Time-stretch audio to the clip without changing pitch."),
    validation: z.array(ValidationSampleSchema).max(2).default([]).describe("Up to 2 validation previews."),
    validation_negative_prompt: prompt.default(DEFAULT_VALIDATION_NEGATIVE_PROMPT),
    validation_number_of_frames: frameCount,
    validation_frame_rate: frameRate,
    validation_resolution: z.enum(RESOLUTIONS).default("high"),
    validation_aspect_ratio: z.enum(ASPECT_RATIOS).default("1:1"),
    stg_scale: z.number().min(0).max(3).default(1).describe("Spatio-temporal guidance scale for previews, 0..3."),
    debug_dataset: z.boolean().default(false).describe("Also return an archive of the preprocessed data."),
  })
  .describe("Inputs of the LTX-2.3 audio-to-video LoRA trainer.");

/** The raw request as a caller writes it (defaults optional). */
export type TrainInputRaw = z.input<typeof TrainInputSchema>;
/** The validated request: every default applied, frame counts snapped. */
export type TrainInput = z.output<typeof TrainInputSchema>;

function issueDetails(issue: z.core.$ZodIssue): A2VErrorDetail[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      code: "unrecognized_key",
      path: [...issue.path, key].map((p) => (typeof p === "symbol" ? String(p) : p)),
      message: `unknown field "${[...issue.path, key].join(".")}"`,
    }));
  }
  const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
  return [{ code: issue.code, path, message: issue.message }];
}

/**
 * Validates a raw request: applies defaults, snaps frame counts, and rejects anything else with an
 * `A2VError` (status 422, code `invalid_input`) carrying one detail per offending field.
 */
export function parseTrainInput(raw: unknown): TrainInput {
  const result = TrainInputSchema.safeParse(raw);
  if (result.success) return result.data;
  const details = result.error.issues.flatMap(issueDetails);
  const fields = [...new Set(details.map((d) => d.path?.join(".") ?? "input"))].join(", ");
  throw new A2VError("invalid_input", `Invalid training input (${fields})`, { status: 422, details });
}

/**
 * Parses the text of a request file: JSON, with a UTF-8 byte-order mark accepted (Windows editors
 * write one). Anything else is `invalid_input` (422).
 */
export function parseInputJson(text: string, file = "input"): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (cause) {
    throw new A2VError("invalid_input", `${file}: not readable JSON (${(cause as Error).message})`, {
      status: 422,
      details: [{ code: "invalid_json", message: (cause as Error).message }],
      cause,
    });
  }
}

/** The input's JSON Schema, generated from the zod schema (what callers may send). */
export function trainInputJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(TrainInputSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}

/** The preprocessing settings a request implies (bucket, frames, rate, scaling, scenes, audio handling). */
export function sampleOptionsFor(input: TrainInput): SampleOptions {
  return {
    bucket: resolutionFor(input.resolution, input.aspect_ratio),
    numberOfFrames: input.number_of_frames,
    frameRate: input.frame_rate,
    autoScaleInput: input.auto_scale_input,
    splitInputIntoScenes: input.split_input_into_scenes,
    splitInputDurationThreshold: input.split_input_duration_threshold,
    audioNormalize: input.audio_normalize,
    audioPreservePitch: input.audio_preserve_pitch,
  };
}
