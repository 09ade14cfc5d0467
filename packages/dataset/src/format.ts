import { printable } from "@a2v/errors";
import type { DatasetFile, DatasetGroup, DatasetManifest } from "./types.js";

/** A human-readable summary of a validated dataset (what `a2v validate` prints without --json). */
export function formatManifest(manifest: DatasetManifest): string {
  const { counts, options } = manifest;
  const lines = [
    `dataset ${manifest.source}: ${counts.groups} group${counts.groups === 1 ? "" : "s"} (${counts.ok} ok, ${counts.skipped} skipped), ${formatBytes(manifest.archive.bytes)}, ${manifest.archive.entries} entries`,
    `options: number_of_frames ${options.numberOfFrames}, auto_scale_input ${options.autoScaleInput ? "on" : "off"}, trigger_phrase ${options.triggerPhrase ? JSON.stringify(options.triggerPhrase) : "(none)"}`,
  ];
  for (const group of manifest.groups) lines.push(...formatGroup(group));
  if (manifest.warnings.length > 0) {
    lines.push(`warnings (${manifest.warnings.length}):`);
    for (const warning of manifest.warnings) lines.push(`  - [${warning.code}] ${warning.message}`);
  }
  if (manifest.root) lines.push(`files extracted to ${manifest.root}`);
  // Names come from the archive: bidi overrides and C1 controls are shown escaped, not obeyed.
  return printable(lines.join("\n"));
}

function formatGroup(group: DatasetGroup): string[] {
  const status = group.status === "ok" ? "ok" : `skipped (${group.skipReason})`;
  const audio = group.audio ? describe(group.audio) : `audio track of ${group.start.archivePath}`;
  return [
    `${group.name}: ${status}`,
    `  start   ${describe(group.start)}`,
    `  audio   ${audio}`,
    `  target  ${describe(group.target)}`,
    `  caption ${JSON.stringify(group.caption)}`,
  ];
}

function describe(file: DatasetFile): string {
  const { video, audio } = file.probe;
  const parts: string[] = [];
  if (video && video.frames > 1) {
    parts.push(
      `${video.width}x${video.height}, ${video.frames} frames @ ${round(video.fps)} fps, ${video.durationSec.toFixed(2)} s`,
    );
  } else if (video) {
    parts.push(`${video.width}x${video.height} ${video.codec}`);
  }
  if (audio) parts.push(`audio ${audio.codec} ${audio.sampleRate} Hz ${audio.durationSec.toFixed(2)} s`);
  return `${file.archivePath} (${parts.join("; ")})`;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
