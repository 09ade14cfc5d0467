import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { A2VError } from "@a2v/errors";
import unzipper from "unzipper";
import { DatasetErrorCodes } from "./codes.js";
import { decodeEntryName } from "./entry-names.js";
import type { ArchiveCaps } from "./types.js";

/** One central-directory record, with a way to stream its decompressed bytes. */
export interface ZipEntry {
  /** Position in the central directory. */
  index: number;
  /** Name as stored, decoded as unzip does (UTF-8 flag, Unicode Path extra field, else CP437), before any normalisation. */
  rawPath: string;
  isDirectory: boolean;
  flags: number;
  compressionMethod: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  /** Unix mode in the upper 16 bits when made on a Unix host. */
  externalAttributes: number;
  localHeaderOffset: number;
  nameLength: number;
  /** Decompressed bytes; the caller enforces size and CRC. */
  open(): Readable;
}

export interface ZipDirectory {
  entries: ZipEntry[];
  /** Offset where the central directory starts (the end of the entry data). */
  centralDirectoryOffset: number;
  /** Closes every file stream still open on the archive (entries abandoned on error). */
  close(): void;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CENTRAL_RECORD_SIGNATURE = 0x02014b50;
const CENTRAL_RECORD_SIZE = 46;
/** A central directory larger than this is refused before it is read (20,000 ordinary records are ~2 MB). */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;

interface EndOfCentralDirectory {
  /** Absolute offset of the end-of-central-directory record. */
  offset: number;
  records: number;
  centralDirectoryOffset: number;
  centralDirectorySize: number;
}

/**
 * Reads the zip's central directory without touching entry data. The entry count is checked
 * against the cap before any record is parsed, so a forged count cannot make us allocate.
 */
export async function readZipDirectory(path: string, size: number, caps: ArchiveCaps): Promise<ZipDirectory> {
  const eocd = await findEndOfCentralDirectory(path, size);
  if (eocd.records > caps.maxEntries) {
    const message = `the archive has ${eocd.records} entries, over the cap of ${caps.maxEntries}`;
    throw new A2VError(DatasetErrorCodes.archiveTooLarge, message, {
      status: 422,
      details: [{ code: DatasetErrorCodes.archiveTooLarge, message }],
    });
  }
  const streams = new Set<Readable>();
  const close = () => {
    for (const stream of streams) stream.destroy();
    streams.clear();
  };
  const source = {
    size: async () => size,
    stream: (start: number, length?: number) => {
      const stream = createReadStream(path, { start, ...(length ? { end: start + length - 1 } : {}) });
      streams.add(stream);
      stream.once("close", () => streams.delete(stream));
      return stream;
    },
  };
  let directory: unzipper.CentralDirectory;
  try {
    // tailSize makes unzipper start its signature search exactly at the record found above
    // (its default 80-byte window misses archives with a comment).
    const openCustom = unzipper.Open.custom as unknown as (
      from: typeof source,
      options: { tailSize: number },
    ) => Promise<unzipper.CentralDirectory>;
    directory = await openCustom(source, { tailSize: size - eocd.offset });
  } catch (cause) {
    close();
    throw notAZip(`its central directory is unreadable (${cause instanceof Error ? cause.message : cause})`, cause);
  }
  let names: string[];
  try {
    names = await readEntryNames(path, eocd);
  } catch (cause) {
    close();
    throw cause;
  }
  if (names.length !== directory.files.length) {
    close();
    throw notAZip(`its central directory holds ${names.length} records, its end record says ${directory.files.length}`);
  }
  const entries = directory.files.map(
    (file, index): ZipEntry => ({
      index,
      rawPath: names[index]!,
      isDirectory: file.type === "Directory",
      flags: file.flags,
      compressionMethod: file.compressionMethod,
      compressedSize: file.compressedSize,
      uncompressedSize: file.uncompressedSize,
      crc32: file.crc32 >>> 0,
      externalAttributes: file.externalFileAttributes >>> 0,
      localHeaderOffset: file.offsetToLocalFileHeader,
      nameLength: file.fileNameLength,
      open: () => file.stream(),
    }),
  );
  return { entries, centralDirectoryOffset: eocd.centralDirectoryOffset, close };
}

/** Every record's name, decoded from its raw bytes, flags and extra fields (unzipper keeps no extra fields). */
async function readEntryNames(path: string, eocd: EndOfCentralDirectory): Promise<string[]> {
  if (eocd.centralDirectorySize > MAX_DIRECTORY_BYTES) {
    const message = `its central directory is ${eocd.centralDirectorySize} bytes, over the cap of ${MAX_DIRECTORY_BYTES}`;
    throw new A2VError(DatasetErrorCodes.archiveTooLarge, message, {
      status: 422,
      details: [{ code: DatasetErrorCodes.archiveTooLarge, message }],
    });
  }
  const handle = await open(path, "r");
  let buffer: Buffer;
  try {
    buffer = await readAt(handle, eocd.centralDirectoryOffset, eocd.centralDirectorySize);
  } finally {
    await handle.close();
  }
  const names: string[] = [];
  for (let at = 0; names.length < eocd.records; ) {
    if (at + CENTRAL_RECORD_SIZE > buffer.length || buffer.readUInt32LE(at) !== CENTRAL_RECORD_SIGNATURE) {
      throw notAZip(`central directory record ${names.length} is corrupt`);
    }
    const flags = buffer.readUInt16LE(at + 8);
    const nameLength = buffer.readUInt16LE(at + 28);
    const extraLength = buffer.readUInt16LE(at + 30);
    const commentLength = buffer.readUInt16LE(at + 32);
    const nameStart = at + CENTRAL_RECORD_SIZE;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > buffer.length) throw notAZip(`central directory record ${names.length} runs past the directory`);
    names.push(
      decodeEntryName(
        buffer.subarray(nameStart, extraStart),
        flags,
        buffer.subarray(extraStart, extraStart + extraLength),
      ),
    );
    at = next;
  }
  return names;
}

async function findEndOfCentralDirectory(path: string, size: number): Promise<EndOfCentralDirectory> {
  if (size < EOCD_SIZE) throw notAZip(`it is only ${size} bytes long`);
  const handle = await open(path, "r");
  try {
    const tailLength = Math.min(size, EOCD_SIZE + MAX_COMMENT);
    const tail = await readAt(handle, size - tailLength, tailLength);
    const at = locateEocd(tail);
    if (at === undefined) throw notAZip("no end-of-central-directory record was found");
    const offset = size - tailLength + at;
    const disk = tail.readUInt16LE(at + 4);
    const directoryDisk = tail.readUInt16LE(at + 6);
    let records = tail.readUInt16LE(at + 10);
    let centralDirectorySize = tail.readUInt32LE(at + 12);
    let centralDirectoryOffset = tail.readUInt32LE(at + 16);
    let directoryEnd = offset;
    if (records === 0xffff || centralDirectorySize === 0xffffffff || centralDirectoryOffset === 0xffffffff) {
      if (offset < 20) throw notAZip("its zip64 locator is missing");
      const locator = await readAt(handle, offset - 20, 20);
      if (locator.readUInt32LE(0) !== ZIP64_LOCATOR_SIGNATURE) throw notAZip("its zip64 locator is missing");
      const zip64Offset = Number(locator.readBigUInt64LE(8));
      if (zip64Offset + 56 > offset - 20) throw notAZip("its zip64 end record points outside the file");
      const record = await readAt(handle, zip64Offset, 56);
      if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw notAZip("its zip64 end record is corrupt");
      records = Number(record.readBigUInt64LE(32));
      centralDirectorySize = Number(record.readBigUInt64LE(40));
      centralDirectoryOffset = Number(record.readBigUInt64LE(48));
      directoryEnd = zip64Offset;
    }
    if (disk !== 0 || directoryDisk !== 0) throw notAZip("multi-part (split) archives are not supported");
    if (centralDirectoryOffset + centralDirectorySize > directoryEnd) {
      throw notAZip("its central directory points outside the file");
    }
    // unzip and Python's zipfile treat a gap between the directory's end and the end record as a prefix
    // (self-extractor stub, or another zip in front) and shift every offset by it; reading offsets
    // as stored would then see different entries from theirs. Such archives are refused.
    const prefix = directoryEnd - (centralDirectoryOffset + centralDirectorySize);
    if (prefix !== 0) {
      throw notAZip(
        `${prefix} bytes of other data come before the zip (a concatenated or self-extracting archive); other unzip tools would read different entries`,
      );
    }
    return { offset, records, centralDirectoryOffset, centralDirectorySize };
  } finally {
    await handle.close();
  }
}

/**
 * The last end-of-central-directory signature whose comment length reaches exactly the end of
 * the file; failing that, the last one whose record fits (tolerates trailing bytes).
 */
function locateEocd(tail: Buffer): number | undefined {
  let loose: number | undefined;
  for (let at = tail.length - EOCD_SIZE; at >= 0; at--) {
    if (tail.readUInt32LE(at) !== EOCD_SIGNATURE) continue;
    const end = at + EOCD_SIZE + tail.readUInt16LE(at + 20);
    if (end === tail.length) return at;
    if (end <= tail.length) loose ??= at;
  }
  return loose;
}

async function readAt(handle: Awaited<ReturnType<typeof open>>, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  if (bytesRead !== length) throw notAZip("it ends early");
  return buffer;
}

export function notAZip(reason: string, cause?: unknown, file?: string): A2VError {
  const message = file ? `corrupt zip entry ${file}: ${reason}` : `not a valid zip archive: ${reason}`;
  return new A2VError(DatasetErrorCodes.notAZip, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.notAZip, message, ...(file ? { file } : {}) }],
    cause,
  });
}
