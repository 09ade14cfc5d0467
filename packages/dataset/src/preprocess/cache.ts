import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { trackTemp, untrackTemp } from "../run-dir.js";
import type { ResolvedOptions } from "./group.js";
import type { GroupReport, PreprocessGroup, TrainingSample } from "./types.js";

/** Bump when the sample layout or any processing step changes meaning, so old entries stop matching. */
const CACHE_VERSION = 2; // 2: trim/pad mode decodes (and peak-normalizes) only the clip's span of the audio

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * The cache key of one group: a hash over the bytes of its files, its name and caption, and every
 * setting that changes the samples. Paths and timestamps are not part of it, so re-extracting the same
 * archive elsewhere still hits.
 */
export async function groupKey(group: PreprocessGroup, options: ResolvedOptions): Promise<string> {
  const files = {
    start: [extname(group.startFile).toLowerCase(), await fileDigest(group.startFile)],
    audio: group.audioFile ? await fileDigest(group.audioFile) : null,
    end: await fileDigest(group.endFile),
  };
  const settings = {
    bucket: options.bucket,
    numberOfFrames: options.numberOfFrames,
    frameRate: options.frameRate,
    autoScaleInput: options.autoScaleInput,
    splitInputIntoScenes: options.splitInputIntoScenes,
    splitInputDurationThreshold: options.splitInputDurationThreshold,
    audioNormalize: options.audioNormalize,
    audioPreservePitch: options.audioPreservePitch,
    windows: options.windows,
    audioSampleRate: options.audioSampleRate,
    audioChannels: options.audioChannels,
    sceneDetection: options.sceneDetection ?? null,
  };
  const payload = JSON.stringify({ v: CACHE_VERSION, name: group.name, caption: group.caption, files, settings });
  return createHash("sha256").update(payload).digest("hex");
}

const REPORT = "group.json";

/** A finished cache entry's report, or undefined on a miss. */
export async function readEntry(cacheDir: string, key: string): Promise<GroupReport | undefined> {
  try {
    return JSON.parse(await readFile(join(cacheDir, key, REPORT), "utf8")) as GroupReport;
  } catch {
    return undefined;
  }
}

/** Loads sample `index` of an entry (one sample in memory). */
export async function readSample(
  cacheDir: string,
  key: string,
  report: GroupReport,
  index: number,
): Promise<TrainingSample> {
  const info = report.samples[index]!;
  const dir = join(cacheDir, key);
  const rgb = await readFile(join(dir, `${index}.rgb`));
  const pcmBytes = await readFile(join(dir, `${index}.pcm`));
  // Float32Array views need 4-byte alignment; a pooled Buffer may not have it.
  const aligned = pcmBytes.byteOffset % 4 === 0 ? pcmBytes : Buffer.from(pcmBytes);
  const floats = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  const audio = Array.from({ length: info.channels }, (_, c) =>
    floats.subarray(c * info.audioSamples, (c + 1) * info.audioSamples),
  );
  return { ...info, pixels: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.byteLength), audio };
}

/** Writes an entry into a private temp dir, published atomically by `commit`. */
export class EntryWriter {
  private readonly tmp: string;
  private count = 0;

  constructor(
    private readonly cacheDir: string,
    private readonly key: string,
  ) {
    this.tmp = join(cacheDir, `.tmp-${key}-${randomBytes(6).toString("hex")}`);
    // A signal mid-group removes the half-written entry too.
    trackTemp(this.tmp);
  }

  async add(sample: TrainingSample): Promise<void> {
    if (this.count === 0) await mkdir(this.tmp, { recursive: true });
    const index = this.count++;
    await writeFile(join(this.tmp, `${index}.rgb`), sample.pixels);
    const planar = new Float32Array(sample.channels * sample.audioSamples);
    for (const [c, channel] of sample.audio.entries()) planar.set(channel, c * sample.audioSamples);
    await writeFile(join(this.tmp, `${index}.pcm`), new Uint8Array(planar.buffer));
  }

  async commit(report: GroupReport): Promise<void> {
    await mkdir(this.tmp, { recursive: true });
    await writeFile(join(this.tmp, REPORT), JSON.stringify(report));
    try {
      await rename(this.tmp, join(this.cacheDir, this.key));
      untrackTemp(this.tmp);
    } catch (error) {
      // Another run published the same entry first; its content is the same by construction.
      if (!(await stat(join(this.cacheDir, this.key, REPORT)).catch(() => undefined))) throw error;
      await this.discard();
    }
  }

  async discard(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
    untrackTemp(this.tmp);
  }
}
