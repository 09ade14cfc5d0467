import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mediaTools } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { concatenateVideos, writeTrainingConfigFile } from "../src/index.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-outputs-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function clip(file: string, seconds: number, color: string, hz: number) {
  execFileSync(mediaTools().ffmpeg.path, [
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", `color=c=${color}:s=64x64:r=24:d=${seconds}`],
    ...["-f", "lavfi", "-i", `sine=frequency=${hz}:sample_rate=16000:duration=${seconds}`],
    ...["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", file],
  ]);
}

function probe(file: string) {
  const out = execFileSync(mediaTools().ffprobe.path, [
    ...["-v", "error", "-show_entries", "stream=codec_type,codec_name,pix_fmt,nb_frames", "-of", "json", file],
  ]);
  return JSON.parse(out.toString()).streams as {
    codec_type: string;
    codec_name: string;
    pix_fmt?: string;
    nb_frames: string;
  }[];
}

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

describe("concatenateVideos", () => {
  it("joins previews into one browser-playable reel with audio", async () => {
    const a = join(dir, "a.mp4");
    const b = join(dir, "b.mp4");
    clip(a, 1, "red", 440);
    clip(b, 2, "blue", 220);
    const reel = join(dir, "reel.mp4");
    await concatenateVideos([a, b], reel);
    const streams = probe(reel);
    const video = streams.find((s) => s.codec_type === "video")!;
    expect(video).toMatchObject({ codec_name: "h264", pix_fmt: "yuv420p" });
    expect(Number(video.nb_frames)).toBe(72);
    expect(streams.find((s) => s.codec_type === "audio")?.codec_name).toBe("aac");
  });

  it("names the inputs when ffmpeg fails, and refuses an empty reel", async () => {
    const missing = join(dir, "missing.mp4");
    await expect(concatenateVideos([missing], join(dir, "x.mp4"))).rejects.toThrow(/missing\.mp4/);
    await expect(concatenateVideos([], join(dir, "x.mp4"))).rejects.toBeInstanceOf(A2VError);
  });
});
