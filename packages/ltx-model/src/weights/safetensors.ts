import { randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { open, rename, rm, writeFile } from "node:fs/promises";
import { A2VError } from "@a2v/errors";
import { DTYPE_BYTES, decodeToFloat32, FLOAT_DTYPES, isSafetensorsDType, type SafetensorsDType } from "./dtypes.js";

/** One tensor's header entry, with its absolute byte range in the file. */
export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute file offset of the first byte. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
  /** Bytes before the data section (8-byte length + JSON header). */
  dataStart: number;
}

// Real headers are a few MiB at most (the 22B checkpoint's is ~1 MiB); anything larger is corrupt.
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

function invalid(file: string, message: string): A2VError {
  return new A2VError("safetensors_invalid", `${file}: ${message}`, {
    status: 422,
    details: [{ code: "safetensors_invalid", message, file }],
  });
}

/** Parses and validates the JSON header (the bytes after the 8-byte length prefix). */
export function parseSafetensorsHeader(
  json: string,
  dataStart: number,
  fileSize: number,
  file: string,
): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (cause) {
    throw invalid(file, `header is not valid JSON (${(cause as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw invalid(file, "header is not a JSON object");
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  const dataSize = fileSize - dataStart;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (value === null || typeof value !== "object") throw invalid(file, "__metadata__ must be an object");
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") throw invalid(file, `__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry?.dtype !== "string" || !isSafetensorsDType(entry.dtype)) {
      throw invalid(file, `tensor ${name} has unsupported dtype ${String(entry?.dtype)}`);
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw invalid(file, `tensor ${name} has an invalid shape`);
    }
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw invalid(file, `tensor ${name} has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== numel * DTYPE_BYTES[entry.dtype]) {
      throw invalid(
        file,
        `tensor ${name}: data_offsets span ${end - begin} bytes, shape needs ${numel * DTYPE_BYTES[entry.dtype]}`,
      );
    }
    if (end > dataSize) throw invalid(file, `tensor ${name} ends at byte ${end}, past the data section (${dataSize})`);
    tensors.set(name, {
      name,
      dtype: entry.dtype,
      shape: shape as number[],
      offset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  return { metadata, tensors, dataStart };
}

/**
 * A safetensors file opened for lazy reads: only the header is read up front; each tensor is read
 * with positioned reads at its offset, so multi-GiB checkpoints never sit in memory whole.
 */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly header: SafetensorsHeader,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (cause) {
      throw new A2VError("safetensors_open_failed", `${path}: cannot open (${(cause as Error).message})`, {
        status: 422,
        details: [{ code: "safetensors_open_failed", message: (cause as Error).message, file: path }],
        cause,
      });
    }
    try {
      const { size } = await handle.stat();
      if (size < 8) throw invalid(path, `file is ${size} bytes, shorter than the 8-byte header length`);
      const lengthBytes = Buffer.alloc(8);
      await readExactly(handle, lengthBytes, 0, path);
      const headerLength = Number(lengthBytes.readBigUInt64LE(0));
      if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
        throw invalid(path, `header length ${headerLength} does not fit the file (${size} bytes)`);
      }
      const headerBytes = Buffer.alloc(headerLength);
      await readExactly(handle, headerBytes, 8, path);
      const header = parseSafetensorsHeader(headerBytes.toString("utf8"), 8 + headerLength, size, path);
      return new SafetensorsFile(path, handle, header);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  keys(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  entry(name: string): TensorEntry {
    const entry = this.header.tensors.get(name);
    if (!entry) {
      throw new A2VError("tensor_missing", `${this.path}: no tensor named ${name}`, {
        status: 422,
        details: [{ code: "tensor_missing", message: `no tensor named ${name}`, file: this.path }],
      });
    }
    return entry;
  }

  entries(): TensorEntry[] {
    return [...this.header.tensors.values()];
  }

  /** The tensor's raw little-endian bytes, read at its offset. */
  async readBytes(name: string): Promise<Uint8Array> {
    const entry = this.entry(name);
    const out = Buffer.alloc(entry.byteLength);
    await readExactly(this.handle, out, entry.offset, this.path);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** The tensor as float32, converted from whatever floating dtype is stored. */
  async readFloat32(name: string): Promise<Float32Array> {
    const entry = this.entry(name);
    if (!FLOAT_DTYPES.has(entry.dtype)) {
      throw invalid(this.path, `tensor ${name} is ${entry.dtype}, not a floating-point tensor`);
    }
    return decodeToFloat32(await this.readBytes(name), entry.dtype);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

async function readExactly(handle: FileHandle, buffer: Buffer, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < buffer.byteLength) {
    const { bytesRead } = await handle.read(buffer, done, buffer.byteLength - done, position + done);
    if (bytesRead === 0) throw invalid(file, `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

/** A tensor to write: raw little-endian bytes already in `dtype`. */
export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

/**
 * Serialises tensors (sorted by name, as the reference writer does) with string metadata.
 * The header is space-padded to an 8-byte boundary so the data section stays aligned.
 */
export function encodeSafetensors(tensors: TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of sorted) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.byteLength !== numel * DTYPE_BYTES[t.dtype]) {
      throw new A2VError(
        "safetensors_write_invalid",
        `tensor ${t.name}: ${t.data.byteLength} bytes do not match shape [${t.shape}] of ${t.dtype}`,
      );
    }
    if (header[t.name] !== undefined) throw new A2VError("safetensors_write_invalid", `duplicate tensor ${t.name}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, "utf8");
  json += " ".repeat((8 - (jsonBytes % 8)) % 8);
  const headerBuf = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + headerBuf.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBuf.byteLength), true);
  out.set(headerBuf, 8);
  let at = 8 + headerBuf.byteLength;
  for (const t of sorted) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Writes atomically (a temp file beside `path`, then rename), so a reader or a run killed mid-write never
 * sees a truncated file: a checkpoint or cache entry either exists whole or not at all.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorToWrite[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, encodeSafetensors(tensors, metadata));
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
