import { mkdir, open, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { A2VError } from "@a2v/errors";
import { decodeCaption, MAX_CAPTION_BYTES } from "./caption.js";
import { type DatasetErrorCode, DatasetErrorCodes, DatasetWarningCodes } from "./codes.js";
import { printableError } from "./entry-names.js";
import { checkEntries } from "./entry-safety.js";
import { extractEntries } from "./extract.js";
import { type GroupFiles, type GroupMember, groupEntries } from "./grouping.js";
import { type ResolvedOptions, resolveOptions } from "./options.js";
import { settleWithLimit } from "./pool.js";
import { probeMedia } from "./probe.js";
import { rejectDataset } from "./rejection.js";
import { type CaptionOutcome, evaluateDataset, evaluateGroup, type ProbeOutcome } from "./rules.js";
import { createRunDir, removeRunDir, sweepStaleRunDirs } from "./run-dir.js";
import { fetchArchive } from "./source.js";
import type { DatasetGroup, DatasetIssue, DatasetManifest, LoadDatasetOptions } from "./types.js";
import { readZipDirectory, type ZipDirectory } from "./zip-directory.js";

/**
 * Fetches, checks, extracts, groups, probes and validates an audio-to-video dataset archive with
 * the hosted service's rules. Returns the manifest, or throws an `A2VError`: status 422 with every
 * problem in `details` for a dataset the service would reject, status 400 `download_failed` when
 * the archive cannot be fetched. Temporary files are removed on every exit path.
 *
 * @param source `training_data_url`: an http(s) URL, a file:// URL or a local path to a .zip.
 */
export async function loadDataset(source: string, options: LoadDatasetOptions = {}): Promise<DatasetManifest> {
  const resolved = resolveOptions(options);
  // Everything temporary lives in one run folder (removed below, or by the signal handler of a CLI);
  // folders of earlier runs whose process died are swept first.
  await sweepStaleRunDirs(options.tempDir);
  const workDir = await createRunDir(options.tempDir);
  const keepDir = resolved.extractTo === undefined ? undefined : resolve(resolved.extractTo);
  let directory: ZipDirectory | undefined;
  let preparedKeepDir = false;
  let succeeded = false;
  try {
    if (keepDir) preparedKeepDir = await prepareEmptyDir(keepDir);
    const archive = await fetchArchive(source, workDir, resolved);
    directory = await readZipDirectory(archive.path, archive.bytes, resolved.caps);
    const manifest = await validateArchive(
      directory,
      resolved,
      keepDir ?? join(workDir, "files"),
      keepDir !== undefined,
    );
    succeeded = true;
    return {
      source: archive.label,
      archive: { bytes: archive.bytes, entries: directory.entries.length },
      ...manifest,
      ...(keepDir ? { root: keepDir } : {}),
    };
  } catch (error) {
    // Messages are printed to people: names from the archive are escaped there (file and group stay exact).
    if (error instanceof A2VError) printableError(error);
    throw error;
  } finally {
    directory?.close();
    await removeRunDir(workDir);
    if (keepDir && preparedKeepDir && !succeeded) await emptyDir(keepDir);
  }
}

async function validateArchive(
  directory: ZipDirectory,
  options: ResolvedOptions,
  extractDir: string,
  reportLocalPaths: boolean,
): Promise<Omit<DatasetManifest, "source" | "archive" | "root">> {
  const { files, problems: unsafe } = checkEntries(directory, options.caps);
  if (unsafe.length > 0) throw rejectDataset(unsafe);

  const grouping = groupEntries(files);
  const warnings: DatasetIssue[] = [...grouping.warnings];
  const ignored = [...grouping.ignored];
  const mediaGroups: GroupFiles[] = [];
  for (const group of grouping.groups) {
    const { start, audio, target, caption } = group.members;
    if (start || audio || target) {
      mediaGroups.push(group);
    } else if (caption) {
      // Stray text files (a README.txt, even in two folders) are not dataset groups.
      for (const path of [caption.path, ...group.conflicts.map((c) => c.file!)]) {
        ignored.push(path);
        warnings.push({
          code: DatasetWarningCodes.orphanCaption,
          group: group.name,
          file: path,
          message: `${path} is ignored: no ${group.name}_start, _audio or _end file goes with it`,
        });
      }
    }
  }
  if (mediaGroups.length === 0) throw emptyDataset(files.length, ignored.length);

  // Conflicted groups are already reported; the others are extracted and probed so that one run
  // reports every problem at once.
  const checkable = mediaGroups.filter((g) => g.conflicts.length === 0);
  // Captions over the limit are judged from the directory and never extracted.
  const oversized = new Set(
    checkable.flatMap((g) => {
      const caption = g.members.caption;
      return caption && caption.entry.uncompressedSize > MAX_CAPTION_BYTES ? [caption] : [];
    }),
  );
  const members = checkable.flatMap((g) => Object.values(g.members)).filter((m) => !oversized.has(m));
  await mkdir(extractDir, { recursive: true });
  const localPaths = await extractEntries(members, extractDir, options.caps, options.onProgress);
  const { outcomes: probes, stopped } = await probeAll(
    members.filter((m) => m.extension !== "txt"),
    localPaths,
    options,
  );

  const problems: DatasetIssue[] = mediaGroups.flatMap((g) => g.conflicts);
  if (stopped) problems.push(stopped);
  const groups: DatasetGroup[] = [];
  for (const files of checkable) {
    const member = files.members.caption;
    const caption = !member
      ? undefined
      : oversized.has(member)
        ? ({ ok: false, reason: captionTooLong(member.entry.uncompressedSize) } as const)
        : await readCaption(localPaths.get(member)!);
    const verdict = evaluateGroup(
      { files, probes, ...(caption ? { caption } : {}), ...(reportLocalPaths ? { localPaths } : {}) },
      options,
    );
    problems.push(...verdict.problems);
    warnings.push(...verdict.warnings);
    if (verdict.group) groups.push(verdict.group);
  }
  if (problems.length > 0) throw rejectDataset(problems);

  const dataset = evaluateDataset(groups, options);
  if (dataset.problems.length > 0) throw rejectDataset(dataset.problems);
  warnings.push(...dataset.warnings);
  const ok = groups.filter((g) => g.status === "ok").length;
  return {
    options: {
      triggerPhrase: options.triggerPhrase,
      numberOfFrames: options.numberOfFrames,
      autoScaleInput: options.autoScaleInput,
      frameRate: options.frameRate,
    },
    groups,
    counts: { groups: groups.length, ok, skipped: groups.length - ok },
    warnings: warnings as DatasetManifest["warnings"],
    ignored: ignored.sort(),
  };
}

async function probeAll(
  members: GroupMember[],
  localPaths: Map<GroupMember, string>,
  options: ResolvedOptions,
): Promise<{ outcomes: Map<GroupMember, ProbeOutcome>; stopped: DatasetIssue | undefined }> {
  let done = 0;
  let unreadable = 0;
  const { maxCorruptFiles } = options.limits;
  const settled = await settleWithLimit(members, options.probeConcurrency, async (member) => {
    // Past the corrupt-file bound the rest is not probed: an archive of hundreds of broken files
    // costs a bounded number of ffprobe runs.
    if (unreadable >= maxCorruptFiles) return undefined;
    try {
      return await probeMedia(localPaths.get(member)!, { label: member.path, limits: options.limits });
    } catch (error) {
      unreadable++;
      throw error;
    } finally {
      done++;
      options.onProgress({ phase: "probe", done, total: members.length, file: member.path });
    }
  });
  const outcomes = new Map<GroupMember, ProbeOutcome>();
  let skipped = 0;
  settled.forEach((result, i) => {
    const member = members[i]!;
    if (result.status === "fulfilled") {
      if (result.value) {
        outcomes.set(member, { ok: true, probe: result.value });
      } else {
        skipped++;
        outcomes.set(member, { ok: false, skipped: true });
      }
    } else {
      const reason = result.reason as unknown;
      const code = reason instanceof A2VError ? reason.code : undefined;
      if (code !== DatasetErrorCodes.corruptMedia && code !== DatasetErrorCodes.mediaTooLarge) throw reason;
      outcomes.set(member, { ok: false, code: code as DatasetErrorCode, message: (reason as A2VError).message });
    }
  });
  const stopped =
    skipped > 0
      ? {
          code: DatasetErrorCodes.corruptMedia,
          message: `probing stopped after ${unreadable} refused media files (unreadable or over a limit); ${skipped} more were not checked`,
        }
      : undefined;
  return { outcomes, stopped };
}

/** Reads a caption already known (from the directory) to be at most MAX_CAPTION_BYTES; never more than that is read. */
async function readCaption(path: string): Promise<CaptionOutcome> {
  const handle = await open(path, "r");
  let bytes: Buffer;
  try {
    const buffer = Buffer.alloc(MAX_CAPTION_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    bytes = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (bytes.length > MAX_CAPTION_BYTES) return { ok: false, reason: captionTooLong(bytes.length) };
  try {
    return { ok: true, text: decodeCaption(bytes) };
  } catch {
    return { ok: false, reason: "it is not valid UTF-8 text" };
  }
}

function captionTooLong(bytes: number): string {
  return `${bytes} bytes is too long for a caption (at most ${MAX_CAPTION_BYTES})`;
}

async function prepareEmptyDir(dir: string): Promise<true> {
  await mkdir(dir, { recursive: true });
  const existing = await readdir(dir);
  if (existing.length > 0) {
    throw new A2VError(DatasetErrorCodes.invalidOption, `extractTo ${dir} must be an empty directory`, { status: 422 });
  }
  return true;
}

/** Removes what a failed run extracted into `dir` (it was empty before), keeping the directory. */
async function emptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => []);
  await Promise.all(entries.map((name) => rm(join(dir, name), { recursive: true, force: true })));
}

function emptyDataset(files: number, ignored: number): A2VError {
  const message =
    files === 0
      ? "the archive is empty"
      : `the archive has no usable group: none of its ${ignored} file${ignored === 1 ? "" : "s"} is a <name>_start, <name>_audio or <name>_end file`;
  return new A2VError(DatasetErrorCodes.emptyDataset, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.emptyDataset, message }],
  });
}
