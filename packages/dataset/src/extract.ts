import { createWriteStream } from "node:fs";
import { join, posix } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { crc32 } from "node:zlib";
import { A2VError } from "@a2v/errors";
import { DatasetErrorCodes } from "./codes.js";
import type { SafeEntry } from "./entry-safety.js";
import type { ArchiveCaps, DatasetProgress } from "./types.js";
import { notAZip } from "./zip-directory.js";

const METHOD_STORE = 0;
const METHOD_DEFLATE = 8;

/**
 * Streams the chosen entries into `dir`, one at a time, under flat names (`<index>.<extension>`,
 * so nothing an entry name says can place a file elsewhere). Each entry is cut off the moment it
 * outgrows the size its header declares (a lying header is a bomb trick), the running total is
 * held to `maxTotalBytes`, and the CRC-32 is verified. Returns the local path of each entry.
 */
export async function extractEntries<E extends SafeEntry>(
  entries: E[],
  dir: string,
  caps: ArchiveCaps,
  onProgress: (event: DatasetProgress) => void,
): Promise<Map<E, string>> {
  const paths = new Map<E, string>();
  let total = 0;
  for (const [i, item] of entries.entries()) {
    const { entry, path } = item;
    if (entry.compressionMethod !== METHOD_STORE && entry.compressionMethod !== METHOD_DEFLATE) {
      throw notAZip(
        `compression method ${entry.compressionMethod} is not supported (use deflate or store)`,
        undefined,
        path,
      );
    }
    // Only the index and the extension (the demuxer is pinned to it): a legal 250-byte entry name
    // would overflow the file system's 255-byte limit with a prefix, and names need not survive.
    const target = join(dir, `${String(entry.index).padStart(6, "0")}${posix.extname(path).toLowerCase()}`);
    let written = 0;
    let crc = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        total += chunk.length;
        if (written > entry.uncompressedSize) {
          callback(unsafe(path, `it expands beyond the ${entry.uncompressedSize} bytes its header declares`));
          return;
        }
        if (total > caps.maxTotalBytes) {
          callback(tooLarge(`the archive expands beyond the cap of ${caps.maxTotalBytes} bytes`));
          return;
        }
        crc = crc32(chunk, crc);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(entry.open(), guard, createWriteStream(target, { flags: "wx" }));
    } catch (cause) {
      if (cause instanceof A2VError) throw cause;
      throw notAZip(cause instanceof Error ? cause.message : String(cause), cause, path);
    }
    if (written !== entry.uncompressedSize) {
      throw notAZip(`${written} bytes extracted, ${entry.uncompressedSize} declared`, undefined, path);
    }
    if (crc >>> 0 !== entry.crc32) throw notAZip("CRC-32 mismatch (the data is damaged)", undefined, path);
    paths.set(item, target);
    onProgress({ phase: "extract", done: i + 1, total: entries.length, file: path });
  }
  return paths;
}

function unsafe(file: string, reason: string): A2VError {
  const message = `${file}: ${reason}`;
  return new A2VError(DatasetErrorCodes.unsafeEntry, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.unsafeEntry, file, message }],
  });
}

function tooLarge(message: string): A2VError {
  return new A2VError(DatasetErrorCodes.archiveTooLarge, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.archiveTooLarge, message }],
  });
}
