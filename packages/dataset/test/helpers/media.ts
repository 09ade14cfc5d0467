import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { mediaTools } from "@a2v/audio";

const run = promisify(execFile);

/** Runs ffmpeg with lavfi inputs; `args` come after the global flags. */
export async function ffmpeg(args: string[]): Promise<void> {
  await run(mediaTools().ffmpeg.path, ["-hide_banner", "-v", "error", "-y", ...args]);
}

export interface VideoSpec {
  frames: number;
  fps?: number;
  size?: string;
  /** Add a sine audio track of the clip's length. */
  withAudio?: boolean;
}

const VIDEO_CODEC: Record<string, string[]> = {
  mp4: ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"],
  mov: ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"],
  mkv: ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"],
  avi: ["-c:v", "mpeg4"],
};
const AUDIO_CODEC: Record<string, string[]> = {
  mp4: ["-c:a", "aac"],
  mov: ["-c:a", "aac"],
  mkv: ["-c:a", "aac"],
  avi: ["-c:a", "libmp3lame"],
};

/** A testsrc clip (optionally with a sine track) in mp4/mov/mkv/avi, by extension. */
export async function makeVideo(path: string, spec: VideoSpec): Promise<string> {
  const ext = path.split(".").pop()!.toLowerCase();
  const fps = spec.fps ?? 24;
  const size = spec.size ?? "64x64";
  const seconds = spec.frames / fps;
  const inputs = ["-f", "lavfi", "-i", `testsrc=size=${size}:rate=${fps}`];
  if (spec.withAudio) inputs.push("-f", "lavfi", "-i", `sine=frequency=330:sample_rate=16000:duration=${seconds}`);
  await ffmpeg([
    ...inputs,
    "-frames:v",
    String(spec.frames),
    ...VIDEO_CODEC[ext]!,
    ...(spec.withAudio ? [...AUDIO_CODEC[ext]!, "-t", String(seconds)] : ["-an"]),
    path,
  ]);
  return path;
}

/** A sine tone in any of the dataset's audio formats, by extension. */
export async function makeAudio(path: string, seconds: number): Promise<string> {
  await ffmpeg(["-f", "lavfi", "-i", `sine=frequency=440:sample_rate=16000:duration=${seconds}`, path]);
  return path;
}

/** A still testsrc picture (png or jpg, by extension). */
export async function makeImage(path: string, size = "64x64"): Promise<string> {
  await ffmpeg(["-f", "lavfi", "-i", `testsrc=size=${size}:rate=1`, "-frames:v", "1", path]);
  return path;
}

/** A temp folder and its removal. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The fixtures most tests share, generated once per test file. */
export interface Fixtures {
  dir: string;
  png: string;
  jpg: string;
  /** 24 fps mp4 with an audio track, 9 frames. */
  startWithAudio: string;
  /** 24 fps mp4 without audio, 9 frames. */
  startSilent: string;
  wav: string;
  /** 17-frame target (passes numberOfFrames 17). */
  end17: string;
  /** 9-frame target (too short for numberOfFrames 17). */
  end9: string;
  remove: () => Promise<void>;
}

export async function makeFixtures(): Promise<Fixtures> {
  const { dir, remove } = await tempDir("a2v-dataset-fixtures-");
  const at = (name: string) => join(dir, name);
  const [png, jpg, startWithAudio, startSilent, wav, end17, end9] = await Promise.all([
    makeImage(at("start.png")),
    makeImage(at("start.jpg")),
    makeVideo(at("start-av.mp4"), { frames: 9, withAudio: true }),
    makeVideo(at("start-silent.mp4"), { frames: 9 }),
    makeAudio(at("audio.wav"), 0.75),
    makeVideo(at("end17.mp4"), { frames: 17 }),
    makeVideo(at("end9.mp4"), { frames: 9 }),
  ]);
  return { dir, png, jpg, startWithAudio, startSilent, wav, end17, end9, remove };
}
