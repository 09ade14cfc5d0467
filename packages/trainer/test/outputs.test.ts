import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTrainingConfigFile } from "../src/index.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-outputs-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("writeTrainingConfigFile", () => {
  it("records the trigger phrase, the a2v training type and the LoRA layout", async () => {
    const path = join(dir, "config.json");
    await writeTrainingConfigFile(path, {
      triggerPhrase: "sks talking",
      baseModel: "ltx-2.3-22b",
      rank: 32,
      alpha: 32,
      targetModules: ["to_k", "to_q", "to_v", "to_out.0"],
      numberOfFrames: 89,
      frameRate: 24,
      training: { number_of_steps: 2000, learning_rate: 0.0002 },
    });
    const written = JSON.parse(await readFile(path, "utf8"));
    expect(written).toMatchObject({
      training_type: "a2v",
      trigger_phrase: "sks talking",
      lora: { rank: 32, alpha: 32, scale_folded_into_lora_B: true },
      training: { number_of_steps: 2000 },
      inference: { number_of_frames: 89, frame_rate: 24 },
    });
  });
});
