import { DatasetErrorCodes } from "./codes.js";
import type { ArchiveCaps, DatasetIssue } from "./types.js";
import type { ZipDirectory, ZipEntry } from "./zip-directory.js";

/** A file entry that passed every check, with its normalised archive path. */
export interface SafeEntry {
  entry: ZipEntry;
  /** Forward slashes, no empty or "." segments. */
  path: string;
}

const LOCAL_HEADER_SIZE = 30;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const FLAG_ENCRYPTED = 0x1;
const FLAG_STRONG_ENCRYPTION = 0x40;
const METHOD_AES = 99;

/**
 * Checks every central-directory record before a single byte is extracted: paths that escape the
 * extraction directory, links and special files, encryption, declared sizes against the caps,
 * compression ratios and overlapping entries (both zip-bomb signatures). Returns all problems.
 */
export function checkEntries(
  directory: ZipDirectory,
  caps: ArchiveCaps,
): { files: SafeEntry[]; problems: DatasetIssue[] } {
  const problems: DatasetIssue[] = [];
  const files: SafeEntry[] = [];
  let total = 0;
  let compressed = 0;
  for (const entry of directory.entries) {
    const shown = entry.rawPath;
    const unsafe = (message: string) =>
      problems.push({ code: DatasetErrorCodes.unsafeEntry, file: shown, message: `${shown}: ${message}` });
    const pathProblem = pathProblemOf(entry.rawPath);
    if (pathProblem) unsafe(pathProblem);
    const fileType = (entry.externalAttributes >>> 16) & S_IFMT;
    if (fileType === S_IFLNK) unsafe("symbolic links are not allowed");
    else if (fileType !== 0 && fileType !== S_IFREG && fileType !== S_IFDIR) unsafe("special files are not allowed");
    if (entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) || entry.compressionMethod === METHOD_AES) {
      unsafe("encrypted entries are not supported");
    }
    if (entry.uncompressedSize > caps.maxEntryBytes) {
      problems.push({
        code: DatasetErrorCodes.archiveTooLarge,
        file: shown,
        message: `${shown}: ${entry.uncompressedSize} bytes uncompressed, over the per-file cap of ${caps.maxEntryBytes}`,
      });
    }
    if (
      entry.uncompressedSize > caps.ratioFloorBytes &&
      entry.uncompressedSize > caps.maxCompressionRatio * Math.max(entry.compressedSize, 1)
    ) {
      const ratio = Math.round(entry.uncompressedSize / Math.max(entry.compressedSize, 1));
      unsafe(`compression ratio ${ratio}:1 is over ${caps.maxCompressionRatio}:1 (zip bomb?)`);
    }
    total += entry.uncompressedSize;
    compressed += entry.compressedSize;
    if (!pathProblem && !entry.isDirectory) files.push({ entry, path: normalisePath(entry.rawPath) });
  }
  if (total > caps.maxTotalBytes) {
    problems.push({
      code: DatasetErrorCodes.archiveTooLarge,
      message: `the archive expands to ${total} bytes, over the cap of ${caps.maxTotalBytes}`,
    });
  }
  // Many entries each under the per-entry floor are a bomb too: the archive as a whole has a ratio budget,
  // judged here from the directory, before one byte is written.
  if (total > caps.archiveRatioFloorBytes && total > caps.maxArchiveCompressionRatio * Math.max(compressed, 1)) {
    const ratio = Math.round(total / Math.max(compressed, 1));
    problems.push({
      code: DatasetErrorCodes.unsafeEntry,
      message: `the archive expands ${ratio}:1 (${compressed} bytes to ${total}), over ${caps.maxArchiveCompressionRatio}:1 for the whole archive (zip bomb?)`,
    });
  }
  problems.push(...overlapProblems(directory));
  return { files, problems };
}

function pathProblemOf(rawPath: string): string | undefined {
  if (rawPath.length === 0) return "empty file name";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f]/.test(rawPath)) return "control characters in the file name";
  const path = rawPath.replace(/\\/g, "/");
  if (path.startsWith("/") || /^[a-z]:/i.test(path)) return "absolute paths are not allowed";
  if (path.split("/").includes("..")) return "'..' path segments are not allowed";
  return undefined;
}

/** Forward slashes, no empty or "." segments, Unicode NFC (a name typed on macOS, NFD, is the same name). */
function normalisePath(rawPath: string): string {
  return rawPath
    .normalize("NFC")
    .replace(/\\/g, "/")
    .split("/")
    .filter((segment) => segment !== "" && segment !== ".")
    .join("/");
}

/** Entries whose data ranges overlap, or run into the central directory, are a zip-bomb trick. */
function overlapProblems(directory: ZipDirectory): DatasetIssue[] {
  const sorted = [...directory.entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const problems: DatasetIssue[] = [];
  sorted.forEach((entry, i) => {
    const end = entry.localHeaderOffset + LOCAL_HEADER_SIZE + entry.nameLength + entry.compressedSize;
    const next = sorted[i + 1];
    const limit = next ? next.localHeaderOffset : directory.centralDirectoryOffset;
    if (end > limit) {
      const what = next ? `overlaps ${next.rawPath}` : "runs into the central directory";
      problems.push({
        code: DatasetErrorCodes.unsafeEntry,
        file: entry.rawPath,
        message: `${entry.rawPath}: its data ${what} (overlapping entries: zip bomb?)`,
      });
    }
  });
  return problems;
}
