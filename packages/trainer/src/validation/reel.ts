import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { type FfmpegFailure, mediaTools, runFfmpeg } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import { browserMp4Output } from "./media.js";

/** DejaVu Sans from Debian's `fonts-dejavu-core` (installed by scripts/setup.sh). `$A2V_REEL_FONT` overrides it. */
export const DEFAULT_REEL_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

export interface ReelPreview {
  /** A preview mp4 (video + audio), e.g. `ValidationSampler.sample`'s. */
  file: string;
  /** Training step the preview was sampled at. */
  step: number;
  prompt: string;
}

export interface ReelOptions {
  /** TrueType font of the band's text (default `$A2V_REEL_FONT` or DejaVu Sans). */
  fontFile?: string;
}

export interface MediaInfo {
  width: number;
  height: number;
  /** Container duration in seconds. */
  duration: number;
  videoCodec?: string;
  pixelFormat?: string;
  audioCodec?: string;
  frames?: number;
  /** Video frame rate (r_frame_rate). */
  fps?: number;
}

/** Size, duration and codecs of a media file (ffprobe). */
export async function probeMediaInfo(file: string): Promise<MediaInfo> {
  const { stdout } = await promisify(execFile)(mediaTools().ffprobe.path, [
    "-v",
    "error",
    "-count_packets",
    "-show_entries",
    "stream=codec_type,codec_name,width,height,pix_fmt,r_frame_rate,nb_read_packets:format=duration",
    "-of",
    "json",
    `file:${resolve(file)}`,
  ]);
  const info = JSON.parse(stdout) as {
    streams: {
      codec_type: string;
      codec_name: string;
      width?: number;
      height?: number;
      pix_fmt?: string;
      r_frame_rate?: string;
      nb_read_packets?: string;
    }[];
    format: { duration?: string };
  };
  const video = info.streams.find((s) => s.codec_type === "video");
  const audio = info.streams.find((s) => s.codec_type === "audio");
  return {
    width: video?.width ?? 0,
    height: video?.height ?? 0,
    duration: Number(info.format.duration ?? 0),
    videoCodec: video?.codec_name,
    pixelFormat: video?.pix_fmt,
    audioCodec: audio?.codec_name,
    frames: video?.nb_read_packets !== undefined ? Number(video.nb_read_packets) : undefined,
    fps: rate(video?.r_frame_rate),
  };
}

function rate(value: string | undefined): number | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(value ?? "");
  return m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : undefined;
}

/** Cuts `text` to at most `max` characters, ending with an ellipsis when cut; control characters become spaces. */
function fit(text: string, max: number): string {
  const clean = text.replace(/[\p{Cc}\p{Cf}]+/gu, " ").trim();
  return clean.length <= max ? clean : `${clean.slice(0, Math.max(1, max - 1)).trimEnd()}…`;
}

/**
 * The validation reel (the service's `video`): every preview in the order given (sort by step first), each under a
 * band naming the step and the prompt (ffmpeg drawtext, DejaVu Sans), with its own audio. H.264 yuv420p + AAC,
 * faststart. Previews of another size are scaled to the first one's.
 */
export async function makeReel(
  previews: readonly ReelPreview[],
  out: string,
  options: ReelOptions = {},
): Promise<void> {
  if (previews.length === 0) throw new A2VError("reel_empty", "a validation reel needs at least one preview");
  const font = options.fontFile ?? process.env.A2V_REEL_FONT ?? DEFAULT_REEL_FONT;
  if (!existsSync(font)) {
    throw new A2VError(
      "reel_font_missing",
      `the reel's font ${font} is missing: install Debian's fonts-dejavu-core (scripts/setup.sh does) or set A2V_REEL_FONT`,
    );
  }
  const infos = await Promise.all(previews.map((p) => probeMediaInfo(p.file)));
  const { width, height } = infos[0]!;
  // Two lines of text (step, prompt) at a size that scales with the frame; even sizes for yuv420p.
  const fontSize = Math.max(10, Math.round(width / 30));
  const lineHeight = Math.round(fontSize * 1.35);
  const margin = Math.round(fontSize * 0.5);
  const band = 2 * Math.ceil((2 * lineHeight + 2 * margin) / 2);
  // DejaVu Sans averages about 0.55 em per character.
  const maxChars = Math.max(8, Math.floor((width - 2 * margin) / (fontSize * 0.58)));
  const work = await mkdtemp(join(tmpdir(), "a2v-reel-"));
  try {
    const args: string[] = [];
    const filters: string[] = [];
    for (const [i, preview] of previews.entries()) {
      args.push("-i", `file:${resolve(preview.file)}`);
      // Text goes through files: prompts may hold any character the filtergraph syntax would need escaped.
      const title = join(work, `title-${i}.txt`);
      const prompt = join(work, `prompt-${i}.txt`);
      await writeFile(title, `step ${preview.step}`);
      await writeFile(prompt, fit(preview.prompt, maxChars));
      const text = (file: string, y: number) =>
        `drawtext=fontfile=${font}:textfile=${file}:fontcolor=white:fontsize=${fontSize}:x=${margin}:y=${y}`;
      // Each preview's audio cut (or padded) to its video's length: AAC pads every track to whole frames, and
      // those ends would add up along the reel.
      const info = infos[i]!;
      const seconds = info.frames && info.fps ? info.frames / info.fps : info.duration;
      filters.push(`[${i}:a:0]aresample=48000,apad,atrim=end=${seconds.toFixed(6)},asetpts=PTS-STARTPTS[a${i}]`);
      filters.push(
        `[${i}:v:0]scale=${width}:${height},setsar=1,pad=${width}:${height + band}:0:${band}:color=black,` +
          `${text(title, margin)},${text(prompt, margin + lineHeight)},format=yuv420p[v${i}]`,
      );
    }
    const streams = previews.map((_, i) => `[v${i}][a${i}]`).join("");
    filters.push(`${streams}concat=n=${previews.length}:v=1:a=1[v][a]`);
    const target = resolve(out);
    await mkdir(dirname(target), { recursive: true });
    args.push(
      "-filter_complex",
      filters.join(";"),
      "-map",
      "[v]",
      "-map",
      "[a]",
      // Keep exactly the previews' frames: constant-rate muxing would duplicate frames where AAC padding runs longer.
      "-fps_mode",
      "passthrough",
      ...browserMp4Output(target),
    );
    await runFfmpeg(args).catch((error: FfmpegFailure) => {
      throw new A2VError("reel_failed", `could not make the reel ${out}: ${error.reason}`, { cause: error });
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
