import { mkdir } from "node:fs/promises";
import { A2VError } from "@a2v/errors";
import { EntryWriter, groupKey, readEntry, readSample } from "./cache.js";
import { groupSamples, resolveOptions } from "./group.js";
import type { GroupReport, PreprocessGroup, SampleOptions, TrainingSample } from "./types.js";

export interface SampleStreamOptions extends SampleOptions {
  /** Called once per group after its last sample, with what was found (scenes, warnings, cache hit). */
  onGroup?: (report: GroupReport) => void;
}

function sampleInfo(sample: TrainingSample): GroupReport["samples"][number] {
  const { pixels: _pixels, audio: _audio, ...info } = sample;
  return info;
}

/**
 * The training samples of `groups`, in group order, as an async iterator: the trainer pulls one sample
 * at a time, so memory is bounded by one clip (one sample's frames plus the group's decoded audio),
 * not by the dataset. With `cacheDir`, groups seen before (same bytes, same settings) are read back
 * without decoding, and new ones are written there as they stream.
 */
export function preprocessSamples(
  groups: Iterable<PreprocessGroup> | AsyncIterable<PreprocessGroup>,
  options: SampleStreamOptions,
): AsyncGenerator<TrainingSample> {
  return streamSamples(groups, options, true);
}

/**
 * `preprocessSamples`, except that with `readCacheHits` false a cached group is only reported, not read
 * back (`preprocess` without the debug archive needs the reports, not the pixels).
 */
export async function* streamSamples(
  groups: Iterable<PreprocessGroup> | AsyncIterable<PreprocessGroup>,
  options: SampleStreamOptions,
  readCacheHits: boolean,
): AsyncGenerator<TrainingSample> {
  const resolved = resolveOptions(options);
  const { cacheDir } = resolved;
  if (cacheDir) await mkdir(cacheDir, { recursive: true });
  let samples = 0;
  const seen: GroupReport[] = [];
  for await (const group of groups) {
    const labels = group.labels ?? {};
    const files = {
      start: labels.start ?? group.startFile,
      audio: group.audioFile ? (labels.audio ?? group.audioFile) : (labels.start ?? group.startFile),
      end: labels.end ?? group.endFile,
    };
    const key = cacheDir ? await groupKey(group, resolved) : undefined;
    const hit = cacheDir && key ? await readEntry(cacheDir, key) : undefined;
    if (cacheDir && key && hit) {
      Object.assign(hit, { cached: true, files });
      for (const warning of hit.warnings) resolved.onWarning?.(warning);
      for (let i = 0; readCacheHits && i < hit.samples.length; i++) yield await readSample(cacheDir, key, hit, i);
      samples += hit.samples.length;
      seen.push(hit);
      options.onGroup?.(hit);
      continue;
    }
    const report: GroupReport = {
      name: group.name,
      files,
      cached: false,
      clipSeconds: 0,
      audioSeconds: 0,
      audioGain: 1,
      samples: [],
      warnings: [],
    };
    const writer = cacheDir && key ? new EntryWriter(cacheDir, key) : undefined;
    let committed = false;
    try {
      for await (const sample of groupSamples(group, resolved, report)) {
        samples++;
        report.samples.push(sampleInfo(sample));
        await writer?.add(sample);
        yield sample;
      }
      await writer?.commit(report);
      committed = true;
    } finally {
      // An error or a consumer that stopped early leaves no half-written entry behind.
      if (writer && !committed) await writer.discard();
    }
    seen.push(report);
    options.onGroup?.(report);
  }
  if (seen.length > 0 && samples === 0) throw noSamples(seen, resolved.numberOfFrames, resolved.frameRate);
}

/**
 * A run that made no sample is the service's 422: every target too short for `numberOfFrames` at
 * `frameRate` (or every scene, when split).
 */
function noSamples(reports: GroupReport[], frames: number, fps: number): A2VError {
  const message = `no training sample was made: no target (or scene) has ${frames} frames at ${fps} fps`;
  return new A2VError("all_targets_too_short", message, {
    status: 422,
    details: reports.map((r) => ({
      code: "all_targets_too_short",
      group: r.name,
      file: r.files.end,
      message: r.warnings[0]?.message ?? `${r.files.end} yields no sample`,
    })),
  });
}
