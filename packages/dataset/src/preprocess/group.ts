import { decodeAudio, fitToDuration, peakNormalize, samplesForDuration } from "@a2v/audio";
import { A2VError, isA2VError } from "@a2v/errors";
import { definedOnly } from "../options.js";
import { type MediaSource, mediaError, videoDuration } from "./ffmpeg.js";
import { ContentDetector, DETECTION_LONG_SIDE, scenesFromCuts } from "./scenes.js";
import type { GroupReport, PreprocessGroup, PreprocessWarning, SampleOptions, TrainingSample } from "./types.js";
import {
  type Bucket,
  DEFAULT_FFMPEG_TIMEOUT_MS,
  DEFAULT_MAX_PIXELS,
  decodeFrames,
  decodeStartImage,
  frameBytes,
} from "./video.js";

/** SampleOptions with every default filled in. */
export type ResolvedOptions = Required<Omit<SampleOptions, "cacheDir" | "onWarning" | "sceneDetection">> &
  Pick<SampleOptions, "cacheDir" | "onWarning" | "sceneDetection">;

/** Options that bound the work but never change a sample: left out of cache keys and summaries. */
export const BOUND_OPTIONS = ["ffmpegTimeoutMs", "maxMediaSeconds", "maxPixels"] as const;

export function resolveOptions(options: SampleOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    autoScaleInput: false,
    splitInputIntoScenes: false,
    splitInputDurationThreshold: 30,
    audioNormalize: true,
    audioPreservePitch: true,
    windows: "first",
    audioSampleRate: 16_000,
    audioChannels: 2,
    ffmpegTimeoutMs: DEFAULT_FFMPEG_TIMEOUT_MS,
    maxMediaSeconds: 600,
    maxPixels: DEFAULT_MAX_PIXELS,
    ...definedOnly(options),
  } as ResolvedOptions;
  const problems: string[] = [];
  const { width, height } = resolved.bucket;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 2 || height < 2) {
    problems.push(`bucket must be integer pixels >= 2, got ${width}x${height}`);
  }
  if (!Number.isInteger(resolved.numberOfFrames) || resolved.numberOfFrames < 1) {
    problems.push(`numberOfFrames must be a positive integer, got ${resolved.numberOfFrames}`);
  }
  if (!(resolved.frameRate > 0)) problems.push(`frameRate must be positive, got ${resolved.frameRate}`);
  if (!(resolved.splitInputDurationThreshold > 0)) problems.push("splitInputDurationThreshold must be positive");
  for (const key of BOUND_OPTIONS) if (!(resolved[key] > 0)) problems.push(`${key} must be positive`);
  if (problems.length > 0) {
    throw new A2VError("invalid_option", `Invalid preprocessing options: ${problems.join("; ")}.`, {
      status: 422,
      details: problems.map((message) => ({ code: "invalid_option", message })),
    });
  }
  return resolved;
}

/**
 * One training sample's source frames: output frame j is frame `pick(j)` of the assembled clip.
 * Plans come in clip order and never go back, so a single sequential decode can serve all of them.
 */
interface Plan {
  scene: number;
  window: number;
  start: number;
  end: number;
  pick: (j: number) => number;
}

function windowPlan(scene: number, window: number, start: number, frames: number): Plan {
  return { scene, window, start, end: start + frames, pick: (j) => start + j };
}

/**
 * Time resampling of [start, end) to `frames` frames, like the fps filter: output frame j is the frame
 * showing at j/frames of the way through (dropped or repeated, never blended); j = 0 is `start`, so
 * scene 0 still opens with the start image.
 */
function resamplePlan(scene: number, start: number, end: number, frames: number): Plan {
  return { scene, window: 0, start, end, pick: (j) => start + Math.floor((j * (end - start)) / frames) };
}

/**
 * Copies clip frames into each plan's [F,H,W,3] buffer as they stream past. Frame 0 of the clip is
 * replaced by the start image (the assembly). Returns when the plans or the frames run out; a plan
 * left incomplete is dropped.
 */
async function* route(
  frames: AsyncIterable<Uint8Array>,
  plans: Iterator<Plan>,
  count: number,
  bytes: number,
  startImage: Uint8Array,
): AsyncGenerator<{ plan: Plan; pixels: Uint8Array }> {
  let next = plans.next();
  if (next.done) return;
  let plan = next.value;
  let pixels = new Uint8Array(count * bytes);
  let j = 0;
  let index = 0;
  for await (const decoded of frames) {
    const frame = index === 0 ? startImage : decoded;
    while (plan.pick(j) === index) {
      pixels.set(frame, j * bytes);
      if (++j === count) {
        yield { plan, pixels };
        next = plans.next();
        if (next.done) return;
        plan = next.value;
        pixels = new Uint8Array(count * bytes);
        j = 0;
      }
    }
    index++;
  }
}

function detectionBucket({ width, height }: Bucket): Bucket {
  const scale = Math.min(1, DETECTION_LONG_SIDE / Math.max(width, height));
  const even = (v: number) => Math.max(2, Math.round((v * scale) / 2) * 2);
  return { width: even(width), height: even(height) };
}

/** Decodes the assembled clip small, at `frameRate`, and returns its frame count and scene cuts. */
async function detectScenes(
  sources: GroupSources,
  options: ResolvedOptions,
): Promise<{ frameCount: number; scenes: [number, number][] }> {
  const bucket = detectionBucket(options.bucket);
  const detector = new ContentDetector(options.frameRate, options.sceneDetection);
  // The scenes are those of the assembled clip, so frame 0 is the start image here too.
  detector.push(await decodeStartImage(sources.start, bucket, imageOptions(options)));
  let frameCount = 0;
  const maxFrames = Math.ceil(options.maxMediaSeconds * options.frameRate) + 1;
  for await (const frame of decodeFrames(sources.end, {
    bucket,
    fps: options.frameRate,
    maxFrames,
    timeoutMs: options.ffmpegTimeoutMs,
  })) {
    if (frameCount++ > 0) detector.push(frame);
  }
  return { frameCount, scenes: scenesFromCuts(detector.cuts, frameCount) };
}

/**
 * The conditioning audio for clip seconds [t0, t1), as exactly round(frames / fps * sampleRate)
 * samples. Stretch mode maps clip time onto the whole audio proportionally (the audio is fitted to the
 * clip), so each sample gets its own slice, stretched once. Trim/pad mode keeps audio time = clip time.
 */
function sliceAudio(
  audio: Float32Array[],
  t0: number,
  t1: number,
  clipSeconds: number,
  outSeconds: number,
  options: ResolvedOptions,
): { pcm: Float32Array[]; stretch: number } {
  const rate = options.audioSampleRate;
  if (!options.audioPreservePitch) {
    const from = Math.min(audio[0]!.length, Math.round(t0 * rate));
    const pcm = fitToDuration(
      audio.map((c) => c.subarray(from)),
      rate,
      outSeconds,
      { preservePitch: false },
    );
    return { pcm, stretch: 1 };
  }
  const scale = audio[0]!.length / clipSeconds;
  const from = Math.min(audio[0]!.length, Math.round(t0 * scale));
  const to = Math.min(audio[0]!.length, Math.max(from + 1, Math.round(t1 * scale)));
  const span = audio.map((c) => c.subarray(from, to));
  const pcm = fitToDuration(span, rate, outSeconds, { preservePitch: true });
  return { pcm, stretch: outSeconds / ((to - from) / rate) };
}

/**
 * Turns one group into training samples, one clip in memory at most: decode the start image and the
 * audio, optionally find scenes (a cheap low-resolution pass), then decode the target once, in order,
 * filling each sample as its frames stream past. `report` is filled in as a side effect.
 */
export async function* groupSamples(
  group: PreprocessGroup,
  options: ResolvedOptions,
  report: GroupReport,
): AsyncGenerator<TrainingSample> {
  const { bucket, numberOfFrames: count, frameRate: fps } = options;
  const warn = (code: PreprocessWarning["code"], message: string) => {
    const warning = { code, message, group: group.name };
    report.warnings.push(warning);
    options.onWarning?.(warning);
  };
  const sources = groupSources(group);
  const clipSeconds = await videoDuration(sources.end, options.ffmpegTimeoutMs);
  if (clipSeconds > options.maxMediaSeconds) {
    throw mediaError(
      sources.end,
      "media_too_large",
      `the target lasts ${clipSeconds.toFixed(1)} s, over the limit of ${options.maxMediaSeconds} s`,
    );
  }
  report.clipSeconds = clipSeconds;

  let audio = await decodeConditioningAudio(sources.audio, clipSeconds, options);
  if (audio[0]!.length === 0) {
    throw mediaError(sources.audio, "corrupt_media", "the conditioning audio has no samples");
  }
  report.audioSeconds = audio[0]!.length / options.audioSampleRate;
  if (options.audioNormalize) {
    const normalized = peakNormalize(audio);
    audio = normalized.pcm;
    report.audioGain = normalized.gain;
  }

  const startImage = await decodeStartImage(sources.start, bucket, imageOptions(options));
  const split = options.splitInputIntoScenes && clipSeconds > options.splitInputDurationThreshold;

  let plans: Iterator<Plan>;
  let frames: AsyncIterable<Uint8Array>;
  if (split) {
    const { scenes } = await detectScenes(sources, options);
    report.scenes = scenes;
    const list: Plan[] = [];
    scenes.forEach(([start, end], scene) => {
      if (end - start < count) {
        warn(
          "scene_too_short",
          `scene ${scene} (frames ${start}-${end}) is shorter than ${count} frames and was dropped`,
        );
      } else if (options.autoScaleInput) {
        list.push(resamplePlan(scene, start, end, count));
      } else {
        const windows = options.windows === "all" ? Math.floor((end - start) / count) : 1;
        for (let w = 0; w < windows; w++) list.push(windowPlan(scene, w, start + w * count, count));
      }
    });
    if (list.length === 0) return;
    plans = list.values();
    frames = decodeFrames(sources.end, {
      bucket,
      fps,
      maxFrames: list.at(-1)!.end,
      timeoutMs: options.ffmpegTimeoutMs,
    });
  } else if (options.autoScaleInput) {
    // The whole target, squeezed or stretched in time to exactly `count` frames by ffmpeg's fps filter.
    plans = [{ ...windowPlan(0, 0, 0, count), end: Math.round(clipSeconds * fps) }].values();
    frames = decodeFrames(sources.end, {
      bucket,
      fps: count / clipSeconds,
      maxFrames: count,
      padToMaxFrames: true,
      timeoutMs: options.ffmpegTimeoutMs,
    });
  } else {
    plans =
      options.windows === "all"
        ? (function* () {
            for (let w = 0; ; w++) yield windowPlan(0, w, w * count, count);
          })()
        : [windowPlan(0, 0, 0, count)].values();
    frames = decodeFrames(sources.end, {
      bucket,
      fps,
      // Never more frames than the longest clip allowed holds, whatever the file claims.
      maxFrames: options.windows === "all" ? Math.ceil(options.maxMediaSeconds * fps) + 1 : count,
      timeoutMs: options.ffmpegTimeoutMs,
    });
  }

  let produced = 0;
  for await (const { plan, pixels } of route(frames, plans, count, frameBytes(bucket), startImage)) {
    const outSeconds = count / fps;
    const t0 = plan.start / fps;
    const t1 = Math.min(clipSeconds, plan.end / fps);
    const { pcm, stretch } = sliceAudio(audio, t0, t1, clipSeconds, outSeconds, options);
    produced++;
    yield {
      id: `${group.name}.s${plan.scene}.w${plan.window}`,
      group: group.name,
      caption: group.caption,
      width: bucket.width,
      height: bucket.height,
      frames: count,
      fps,
      scene: plan.scene,
      window: plan.window,
      sourceFrames: [plan.start, plan.end],
      sourceSeconds: [t0, t1],
      startsWithStartImage: plan.start === 0,
      sampleRate: options.audioSampleRate,
      channels: options.audioChannels,
      audioSamples: samplesForDuration(outSeconds, options.audioSampleRate),
      audioStretch: stretch,
      pixels,
      audio: pcm,
    };
  }
  if (produced === 0 && !split) {
    warn("target_too_short", `the target has fewer than ${count} frames at ${fps} fps; no sample was made`);
  }
}

interface GroupSources {
  start: MediaSource;
  audio: MediaSource;
  end: MediaSource;
}

/** The group's files with the names its errors show (archive paths when the manifest gave them). */
function groupSources(group: PreprocessGroup): GroupSources {
  const source = (path: string, label: string | undefined): MediaSource => ({
    path,
    label: label ?? path,
    group: group.name,
  });
  return {
    start: source(group.startFile, group.labels?.start),
    audio: group.audioFile
      ? source(group.audioFile, group.labels?.audio)
      : source(group.startFile, group.labels?.start),
    end: source(group.endFile, group.labels?.end),
  };
}

function imageOptions(options: ResolvedOptions): { maxPixels: number; timeoutMs: number } {
  return { maxPixels: options.maxPixels, timeoutMs: options.ffmpegTimeoutMs };
}

/**
 * The conditioning audio at the sample rate and channel count of the samples. Only the span samples can
 * use is decoded: the clip's length when audio time is clip time (trim/pad), else at most
 * `maxMediaSeconds` (a longer file is refused, whatever its header said). Errors name the archive
 * path and group, with the documented codes (`corrupt_media`, `media_too_large`).
 */
async function decodeConditioningAudio(
  source: MediaSource,
  clipSeconds: number,
  options: ResolvedOptions,
): Promise<Float32Array[]> {
  const rate = options.audioSampleRate;
  const limit = options.maxMediaSeconds;
  // Trim/pad mode uses audio time = clip time: nothing past the clip's end is ever used (or measured).
  const span = options.audioPreservePitch ? limit + 1 : Math.min(limit + 1, clipSeconds);
  let pcm: Float32Array[];
  try {
    ({ pcm } = await decodeAudio(source.path, {
      sampleRate: rate,
      channels: options.audioChannels,
      durationSeconds: span,
      signal: AbortSignal.timeout(options.ffmpegTimeoutMs),
    }));
  } catch (cause) {
    if (cause instanceof Error && cause.name === "TimeoutError") {
      throw mediaError(source, "corrupt_media", `decoding took longer than ${options.ffmpegTimeoutMs} ms`, cause);
    }
    const reason = isA2VError(cause) ? (cause.details[0]?.message ?? cause.message) : String(cause);
    throw mediaError(source, "corrupt_media", `the conditioning audio cannot be decoded (${reason})`, cause);
  }
  if (options.audioPreservePitch && pcm[0]!.length > limit * rate) {
    throw mediaError(source, "media_too_large", `the audio lasts more than ${limit} s, the limit`);
  }
  return pcm;
}
