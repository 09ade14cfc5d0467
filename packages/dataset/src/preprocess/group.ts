import { decodeAudio, fitToDuration, peakNormalize, samplesForDuration } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import { videoDuration } from "./ffmpeg.js";
import { ContentDetector, DETECTION_LONG_SIDE, scenesFromCuts } from "./scenes.js";
import type { GroupReport, PreprocessGroup, PreprocessWarning, SampleOptions, TrainingSample } from "./types.js";
import { type Bucket, decodeFrames, decodeStartImage, frameBytes } from "./video.js";

/** SampleOptions with every default filled in. */
export type ResolvedOptions = Required<Omit<SampleOptions, "cacheDir" | "onWarning" | "sceneDetection">> &
  Pick<SampleOptions, "cacheDir" | "onWarning" | "sceneDetection">;

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
    ...options,
  };
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
  group: PreprocessGroup,
  options: ResolvedOptions,
): Promise<{ frameCount: number; scenes: [number, number][] }> {
  const bucket = detectionBucket(options.bucket);
  const detector = new ContentDetector(options.frameRate, options.sceneDetection);
  // The scenes are those of the assembled clip, so frame 0 is the start image here too.
  detector.push(await decodeStartImage(group.startFile, bucket));
  let frameCount = 0;
  for await (const frame of decodeFrames(group.endFile, { bucket, fps: options.frameRate })) {
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
  const clipSeconds = await videoDuration(group.endFile);
  report.clipSeconds = clipSeconds;

  const audioFile = group.audioFile ?? group.startFile;
  let { pcm: audio } = await decodeAudio(audioFile, {
    sampleRate: options.audioSampleRate,
    channels: options.audioChannels,
  });
  if (audio[0]!.length === 0) {
    throw new A2VError("no_audio", `${group.name}: the conditioning audio ${audioFile} is empty.`, {
      status: 422,
      details: [{ code: "no_audio", message: "empty audio", group: group.name, file: audioFile }],
    });
  }
  report.audioSeconds = audio[0]!.length / options.audioSampleRate;
  if (options.audioNormalize) {
    const normalized = peakNormalize(audio);
    audio = normalized.pcm;
    report.audioGain = normalized.gain;
  }

  const startImage = await decodeStartImage(group.startFile, bucket);
  const split = options.splitInputIntoScenes && clipSeconds > options.splitInputDurationThreshold;

  let plans: Iterator<Plan>;
  let frames: AsyncIterable<Uint8Array>;
  if (split) {
    const { scenes } = await detectScenes(group, options);
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
    frames = decodeFrames(group.endFile, { bucket, fps, maxFrames: list.at(-1)!.end });
  } else if (options.autoScaleInput) {
    // The whole target, squeezed or stretched in time to exactly `count` frames by ffmpeg's fps filter.
    plans = [{ ...windowPlan(0, 0, 0, count), end: Math.round(clipSeconds * fps) }].values();
    frames = decodeFrames(group.endFile, {
      bucket,
      fps: count / clipSeconds,
      maxFrames: count,
      padToMaxFrames: true,
    });
  } else {
    plans =
      options.windows === "all"
        ? (function* () {
            for (let w = 0; ; w++) yield windowPlan(0, w, w * count, count);
          })()
        : [windowPlan(0, 0, 0, count)].values();
    frames = decodeFrames(group.endFile, { bucket, fps, maxFrames: options.windows === "all" ? undefined : count });
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
