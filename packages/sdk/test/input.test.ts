import { describe, expect, it } from "vitest";
import {
  A2VError,
  DEFAULT_VALIDATION_NEGATIVE_PROMPT,
  parseTrainInput,
  snapNumberOfFrames,
  trainInputJsonSchema,
} from "../src/index.js";

const url = "https://example.com/a2v_groups.zip";

function rejection(raw: unknown): A2VError {
  try {
    parseTrainInput(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(A2VError);
    return error as A2VError;
  }
  throw new Error("expected a rejection");
}

describe("parseTrainInput defaults", () => {
  it("applies every default of the spec", () => {
    expect(parseTrainInput({ training_data_url: url })).toEqual({
      training_data_url: url,
      trigger_phrase: "",
      rank: 32,
      number_of_steps: 2000,
      learning_rate: 0.0002,
      number_of_frames: 89,
      frame_rate: 24,
      resolution: "medium",
      aspect_ratio: "1:1",
      auto_scale_input: false,
      split_input_into_scenes: false,
      split_input_duration_threshold: 30,
      audio_normalize: true,
      audio_preserve_pitch: true,
      validation: [],
      validation_negative_prompt: DEFAULT_VALIDATION_NEGATIVE_PROMPT,
      validation_number_of_frames: 89,
      validation_frame_rate: 24,
      validation_resolution: "high",
      validation_aspect_ratio: "1:1",
      stg_scale: 1,
      debug_dataset: false,
    });
    expect(DEFAULT_VALIDATION_NEGATIVE_PROMPT.length).toBeGreaterThan(40);
  });

  it("accepts the spec's recommended starting configuration unchanged", () => {
    const raw = {
      training_data_url: url,
      trigger_phrase: "",
      rank: 32,
      number_of_steps: 2000,
      learning_rate: 0.0002,
      number_of_frames: 89,
      frame_rate: 24,
      resolution: "medium",
      aspect_ratio: "1:1",
      validation: [
        {
          prompt: "a person speaking to camera",
          image_url: "https://example.com/face.png",
          audio_url: "https://example.com/speech.wav",
        },
      ],
    };
    expect(parseTrainInput(raw)).toMatchObject(raw);
  });
});

describe("parseTrainInput snapping", () => {
  it("snaps frame counts down to frames % 8 == 1", () => {
    expect([9, 10, 16, 17, 88, 89, 90, 96, 97, 120, 121].map(snapNumberOfFrames)).toEqual([
      9, 9, 9, 17, 81, 89, 89, 89, 97, 113, 121,
    ]);
    const input = parseTrainInput({ training_data_url: url, number_of_frames: 100, validation_number_of_frames: 50 });
    expect(input.number_of_frames).toBe(97);
    expect(input.validation_number_of_frames).toBe(49);
  });

  it("keeps every valid count as it is", () => {
    for (let f = 9; f <= 121; f += 8)
      expect(parseTrainInput({ training_data_url: url, number_of_frames: f }).number_of_frames).toBe(f);
  });
});

describe("parseTrainInput ranges and enums", () => {
  const cases: [string, unknown, boolean][] = [
    ["rank", 8, true],
    ["rank", 128, true],
    ["rank", 4, false],
    ["rank", 24, false],
    ["rank", 32.0001, false],
    ["number_of_steps", 100, true],
    ["number_of_steps", 20000, true],
    ["number_of_steps", 99, false],
    ["number_of_steps", 20001, false],
    ["number_of_steps", 150.5, false],
    ["learning_rate", 1e-5, true],
    ["learning_rate", 0, false],
    ["learning_rate", -1e-4, false],
    ["number_of_frames", 8, false],
    ["number_of_frames", 122, false],
    ["number_of_frames", 89.5, false],
    ["frame_rate", 8, true],
    ["frame_rate", 60, true],
    ["frame_rate", 7, false],
    ["frame_rate", 61, false],
    ["frame_rate", 23.976, false],
    ["resolution", "low", true],
    ["resolution", "high", true],
    ["resolution", "ultra", false],
    ["aspect_ratio", "16:9", true],
    ["aspect_ratio", "9:16", true],
    ["aspect_ratio", "4:3", false],
    ["split_input_duration_threshold", 1, true],
    ["split_input_duration_threshold", 60, true],
    ["split_input_duration_threshold", 12.5, true],
    ["split_input_duration_threshold", 0.5, false],
    ["split_input_duration_threshold", 61, false],
    ["stg_scale", 0, true],
    ["stg_scale", 3, true],
    ["stg_scale", 3.1, false],
    ["stg_scale", -0.1, false],
    ["validation_frame_rate", 61, false],
    ["validation_number_of_frames", 200, false],
    ["validation_resolution", "medium", true],
    ["validation_resolution", "4k", false],
    ["validation_aspect_ratio", "16:9", true],
    ["validation_aspect_ratio", "2:1", false],
    ["auto_scale_input", "yes", false],
    ["audio_normalize", 1, false],
    ["debug_dataset", true, true],
    ["trigger_phrase", 42, false],
  ];
  it.each(cases)("%s = %j valid: %s", (field, value, valid) => {
    const raw = { training_data_url: url, [field]: value };
    if (valid) expect(parseTrainInput(raw)[field as "rank"]).toEqual(value);
    else {
      const err = rejection(raw);
      expect(err.status).toBe(422);
      expect(err.code).toBe("invalid_input");
      expect(err.details.map((d) => d.path?.join("."))).toEqual([field]);
    }
  });
});

describe("parseTrainInput errors", () => {
  it("requires training_data_url", () => {
    const err = rejection({});
    expect(err.details).toEqual([expect.objectContaining({ path: ["training_data_url"] })]);
  });

  it("rejects unknown fields by name, also inside validation entries", () => {
    const err = rejection({
      training_data_url: url,
      steps: 10,
      validation: [{ prompt: "p", image_url: "i.png", audio_url: "a.wav", seed: 1 }],
    });
    expect(err.details.map((d) => d.path?.join(".")).sort()).toEqual(["steps", "validation.0.seed"]);
    expect(err.details.find((d) => d.path?.[0] === "steps")?.message).toBe('unknown field "steps"');
  });

  it("reports one detail per offending field, all at once", () => {
    const err = rejection({ training_data_url: url, rank: 3, frame_rate: 0, resolution: "x" });
    expect(err.details.map((d) => d.path?.join(".")).sort()).toEqual(["frame_rate", "rank", "resolution"]);
    expect(err.message).toMatch(/rank/);
  });

  it("validation: at most 2 entries, image_url and audio_url required", () => {
    const sample = { prompt: "p", image_url: "i.png", audio_url: "a.wav" };
    expect(parseTrainInput({ training_data_url: url, validation: [sample, sample] }).validation).toHaveLength(2);
    expect(rejection({ training_data_url: url, validation: [sample, sample, sample] }).details[0]?.path).toEqual([
      "validation",
    ]);
    const missing = rejection({ training_data_url: url, validation: [{ prompt: "p" }] });
    expect(missing.details.map((d) => d.path?.join(".")).sort()).toEqual([
      "validation.0.audio_url",
      "validation.0.image_url",
    ]);
  });

  it("rejects a non-object request", () => {
    expect(rejection("hello").status).toBe(422);
    expect(rejection(null).code).toBe("invalid_input");
  });
});

describe("trainInputJsonSchema", () => {
  it("is generated from the zod schema with defaults, ranges and enums", () => {
    const schema = trainInputJsonSchema() as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { default?: unknown; minimum?: number; maximum?: number; enum?: unknown[] }>;
    };
    expect(schema.required).toEqual(["training_data_url"]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.rank?.enum).toEqual([8, 16, 32, 64, 128]);
    expect(schema.properties.number_of_steps).toMatchObject({ default: 2000, minimum: 100, maximum: 20000 });
    expect(schema.properties.number_of_frames).toMatchObject({ default: 89, minimum: 9, maximum: 121 });
    expect(schema.properties.validation_resolution?.default).toBe("high");
    expect(Object.keys(schema.properties)).toHaveLength(22);
  });
});
