import { readFile, writeFile } from "node:fs/promises";
import { crc32, deflateRawSync } from "node:zlib";

// Test archives are written byte by byte here rather than with yazl: vitest runs tests under
// `node --conditions import`, which makes yazl's require("buffer-crc32") load an ESM build that
// lacks `crc32.unsigned`. A hand-written writer also lets tests forge what no writer would emit.

/** An archive member: the bytes of a file on disk, or literal content. */
export type ZipMember = { name: string; file: string } | { name: string; content: string | Buffer };

/** Writes a regular deflate zip (with an optional archive comment). */
export async function writeZip(path: string, members: ZipMember[], comment?: string): Promise<string> {
  const entries = await Promise.all(
    members.map(async (m) => ({
      name: m.name,
      data: "file" in m ? await readFile(m.file) : Buffer.from(m.content),
    })),
  );
  await writeFile(path, rawZip(entries, { comment }));
  return path;
}

/** A hand-built entry for archives no well-behaved writer produces. */
export interface RawEntry {
  /** Stored name, byte for byte (so "../x" and "/x" are possible). */
  name: string;
  data: Buffer;
  /** 0 store, 8 deflate (default), or any method number to claim. */
  method?: number;
  flags?: number;
  /** Unix mode, stored in the upper 16 bits of the external attributes (e.g. 0o120777 for a symlink). */
  unixMode?: number;
  /** Lie about the uncompressed size in both headers. */
  declaredSize?: number;
  /** Lie about the CRC-32 in both headers. */
  declaredCrc?: number;
  /** Point this central record at the local header of an earlier entry (overlapping entries). */
  shareLocalHeaderOf?: number;
  /** Stored name bytes (instead of `name` in UTF-8), e.g. CP437 or CP932 bytes. */
  nameBytes?: Buffer;
  /** Set the UTF-8 flag (bit 11). Default true. */
  utf8?: boolean;
  /** Extra field of the central record (e.g. an Info-ZIP Unicode Path field). */
  extra?: Buffer;
}

export interface RawZipOptions {
  comment?: string | undefined;
  /** Write zip64 end records (and 0xffff/0xffffffff in the classic one). */
  zip64?: boolean;
  /** With zip64: claim this many entries. */
  forgedRecordCount?: bigint;
}

/** Builds a zip byte by byte: local headers + data, central directory, end record(s). */
export function rawZip(entries: RawEntry[], options: RawZipOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const entry of entries) {
    const method = entry.method ?? 8;
    const body = method === 8 ? deflateRawSync(entry.data) : entry.data;
    const crc = entry.declaredCrc ?? crc32(entry.data);
    const size = entry.declaredSize ?? entry.data.length;
    const name = entry.nameBytes ?? Buffer.from(entry.name, "utf8");
    const flags = (entry.flags ?? 0) | (entry.utf8 === false ? 0 : 0x800);
    const extra = entry.extra ?? Buffer.alloc(0);
    const localOffset = entry.shareLocalHeaderOf === undefined ? offset : offsets[entry.shareLocalHeaderOf]!;
    offsets.push(localOffset);
    if (entry.shareLocalHeaderOf === undefined) {
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(flags, 6);
      local.writeUInt16LE(method, 8);
      local.writeUInt32LE(crc >>> 0, 14);
      local.writeUInt32LE(body.length, 18);
      local.writeUInt32LE(size, 22);
      local.writeUInt16LE(name.length, 26);
      locals.push(local, name, body);
      offset += 30 + name.length + body.length;
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(((entry.unixMode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(localOffset, 42);
    centrals.push(central, name, extra);
  }
  const directory = Buffer.concat(centrals);
  const commentBytes = Buffer.from(options.comment ?? "", "utf8");
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(commentBytes.length, 20);
  if (!options.zip64) {
    end.writeUInt16LE(entries.length, 8);
    end.writeUInt16LE(entries.length, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(offset, 16);
    return Buffer.concat([...locals, directory, end, commentBytes]);
  }
  const records = options.forgedRecordCount ?? BigInt(entries.length);
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(records, 24);
  record.writeBigUInt64LE(records, 32);
  record.writeBigUInt64LE(BigInt(directory.length), 40);
  record.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + directory.length), 8);
  locator.writeUInt32LE(1, 16);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([...locals, directory, record, locator, end, commentBytes]);
}

export async function writeRawZip(path: string, entries: RawEntry[], options?: RawZipOptions): Promise<string> {
  await writeFile(path, rawZip(entries, options));
  return path;
}
