import { mkdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { A2VError, printable } from "@a2v/errors";
import { printableError } from "../entry-names.js";
import { DebugDatasetWriter } from "./debug.js";
import { resolveOptions } from "./group.js";
import { streamSamples } from "./stream.js";
import type { GroupReport, PreprocessGroup, PreprocessWarning, SampleOptions } from "./types.js";

/** The subset of `loadDataset`'s manifest that preprocessing reads (it must be loaded with `extractTo`). */
export interface ManifestLike {
  groups: readonly {
    name: string;
    start: { archivePath: string; localPath?: string };
    audio?: { archivePath: string; localPath?: string };
    target: { archivePath: string; localPath?: string };
    caption: string;
    status: "ok" | "skipped";
  }[];
}

/** The groups of a `loadDataset` manifest that are usable ("ok"), as local paths. */
export function groupsFromManifest(manifest: ManifestLike): PreprocessGroup[] {
  return manifest.groups
    .filter((g) => g.status === "ok")
    .map((g) => {
      const local = (file: { archivePath: string; localPath?: string }): string => {
        if (file.localPath) return file.localPath;
        const message = `${file.archivePath} has no local path: load the dataset with the extractTo option to preprocess it.`;
        throw new A2VError("invalid_option", message, {
          status: 422,
          details: [{ code: "invalid_option", message, group: g.name, file: file.archivePath }],
        });
      };
      return {
        name: g.name,
        startFile: local(g.start),
        ...(g.audio ? { audioFile: local(g.audio) } : {}),
        endFile: local(g.target),
        caption: g.caption,
        // Errors and reports name the archive paths, not the temp files.
        labels: {
          start: g.start.archivePath,
          ...(g.audio ? { audio: g.audio.archivePath } : {}),
          end: g.target.archivePath,
        },
      };
    });
}

export interface PreprocessProgress {
  group: string;
  groupsDone: number;
  groupsTotal: number;
  samples: number;
}

export interface PreprocessOptions extends SampleOptions {
  /** The groups: plain descriptions or a `loadDataset` manifest (loaded with `extractTo`). */
  groups: readonly PreprocessGroup[] | ManifestLike;
  /** Output directory: `preprocess.json`, the cache (unless `cacheDir` points elsewhere), `debug_dataset.zip`. */
  outDir: string;
  /** `debug_dataset`: also write `debug_dataset.zip` with what training sees. Default false. */
  debugDataset?: boolean;
  /** Called after each group (for a progress bar). */
  onProgress?: (event: PreprocessProgress) => void;
  /** Parent of temp folders (the debug archive's scratch); default the OS temp dir. */
  tempDir?: string;
}

export interface PreprocessSummary {
  outDir: string;
  cacheDir: string;
  /** The effective settings (defaults filled in). */
  settings: Omit<SampleOptions, "cacheDir" | "onWarning">;
  groups: GroupReport[];
  /** Samples produced over all groups. */
  samples: number;
  /** Groups read back from the cache. */
  cachedGroups: number;
  warnings: PreprocessWarning[];
  /** Path of `preprocess.json` (this summary). */
  manifest: string;
  /** Path of `debug_dataset.zip`, when requested. */
  debugDataset?: string;
}

/**
 * Runs preprocessing over a whole dataset for the `a2v preprocess` CLI: every sample is produced and
 * cached (so training reads them back without decoding), the summary is written to
 * `<outDir>/preprocess.json`, and with `debugDataset` the samples are also encoded into
 * `<outDir>/debug_dataset.zip` (mp4 + caption per sample, manifest.json).
 */
export async function preprocess(options: PreprocessOptions): Promise<PreprocessSummary> {
  const { groups: input, outDir: out, debugDataset, onProgress, tempDir, ...sampleOptions } = options;
  const outDir = resolve(out);
  const cacheDir = resolve(options.cacheDir ?? join(outDir, "cache"));
  const groups = "groups" in input ? groupsFromManifest(input) : input;
  const { onWarning: _onWarning, cacheDir: _cacheDir, ...settings } = resolveOptions(sampleOptions);
  await mkdir(outDir, { recursive: true });
  const reports: GroupReport[] = [];
  const debug = debugDataset ? new DebugDatasetWriter(join(outDir, "debug_dataset.zip"), tempDir) : undefined;
  let samples = 0;
  try {
    const onGroup = (report: GroupReport) => {
      if (report.cached && !debug) samples += report.samples.length;
      reports.push(report);
      onProgress?.({ group: report.name, groupsDone: reports.length, groupsTotal: groups.length, samples });
    };
    // Cache hits are only read back when the debug archive needs their pixels.
    for await (const sample of streamSamples(groups, { ...sampleOptions, cacheDir, onGroup }, Boolean(debug))) {
      samples++;
      await debug?.add(sample);
    }
  } catch (error) {
    await debug?.discard();
    if (error instanceof A2VError) printableError(error);
    throw error;
  }
  const summary: PreprocessSummary = {
    outDir,
    cacheDir,
    settings,
    groups: reports,
    samples,
    cachedGroups: reports.filter((r) => r.cached).length,
    warnings: reports.flatMap((r) => r.warnings),
    manifest: join(outDir, "preprocess.json"),
    ...(debug ? { debugDataset: debug.path } : {}),
  };
  if (debug) await debug.finish(debugManifest(summary));
  await writeFile(summary.manifest, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** manifest.json of the debug archive: settings, then per sample its files, sources and fitting. */
function debugManifest(summary: PreprocessSummary): unknown {
  return {
    settings: summary.settings,
    samples: summary.groups.flatMap((group) =>
      group.samples.map((sample) => ({
        ...DebugDatasetWriter.entries(sample.id),
        ...sample,
        sourceFiles: {
          start: basename(group.files.start),
          audio: basename(group.files.audio),
          end: basename(group.files.end),
        },
        clipSeconds: group.clipSeconds,
        audioSeconds: group.audioSeconds,
        audioGain: group.audioGain,
        sceneBoundaries: group.scenes ?? null,
        warnings: group.warnings,
      })),
    ),
    groups: summary.groups.map(({ samples, ...group }) => ({ ...group, samples: samples.map((s) => s.id) })),
    warnings: summary.warnings,
  };
}

/** A human-readable summary for the CLI (`--json` prints the summary object instead). */
export function formatPreprocessSummary(summary: PreprocessSummary): string {
  const s = summary.settings;
  const lines = [
    `${summary.groups.length} groups -> ${summary.samples} samples ` +
      `(${s.bucket.width}x${s.bucket.height}, ${s.numberOfFrames} frames at ${s.frameRate} fps, ` +
      `audio ${s.audioSampleRate} Hz x${s.audioChannels}); ${summary.cachedGroups} from cache`,
  ];
  for (const g of summary.groups) {
    const stretch = g.samples.map((x) => x.audioStretch.toFixed(2)).join(", ");
    const scenes = g.scenes ? `, scenes ${g.scenes.map(([a, b]) => `${a}-${b}`).join(" ")}` : "";
    lines.push(
      `  ${g.name}: ${g.samples.length} samples, clip ${g.clipSeconds.toFixed(2)} s, ` +
        `audio ${g.audioSeconds.toFixed(2)} s (stretch ${stretch || "-"})${scenes}${g.cached ? " [cached]" : ""}`,
    );
  }
  for (const w of summary.warnings) lines.push(`  warning ${w.group}: ${w.code}: ${w.message}`);
  lines.push(`cache: ${summary.cacheDir}`, `summary: ${summary.manifest}`);
  if (summary.debugDataset) lines.push(`debug dataset: ${summary.debugDataset}`);
  return `${printable(lines.join("\n"))}\n`;
}
