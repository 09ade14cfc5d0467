import { type FileHandle, open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { type FfmpegFailure, runFfmpeg } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import { createRunDir, removeRunDir } from "../run-dir.js";
import type { TrainingSample } from "./types.js";
import { rateArg } from "./video.js";

/**
 * Encodes one sample as it is trained on: H.264 yuv420p (plays in browsers) with its fitted audio as
 * AAC 48 kHz. Frames go through stdin; the audio goes through a small f32le file because feeding two
 * pipes to one ffmpeg can deadlock on interleaving.
 */
export async function encodeSampleMp4(sample: TrainingSample, out: string): Promise<void> {
  const audioPath = `${out}.f32`;
  const interleaved = new Float32Array(sample.audioSamples * sample.channels);
  for (let c = 0; c < sample.channels; c++) {
    const channel = sample.audio[c]!;
    for (let i = 0; i < sample.audioSamples; i++) interleaved[i * sample.channels + c] = channel[i]!;
  }
  await writeFile(audioPath, new Uint8Array(interleaved.buffer));
  const args = [
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "-s",
    `${sample.width}x${sample.height}`,
    "-r",
    rateArg(sample.fps),
    "-i",
    "pipe:0",
    "-f",
    "f32le",
    "-ar",
    String(sample.sampleRate),
    "-ac",
    String(sample.channels),
    "-i",
    audioPath,
    "-map",
    "0:v:0",
    "-map",
    "1:a:0",
    // yuv420p needs even sizes; buckets are, but a custom odd one gets one black pixel of padding.
    "-vf",
    "pad=ceil(iw/2)*2:ceil(ih/2)*2",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "18",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-b:a",
    "128k",
    "-ar",
    "48000",
    "-movflags",
    "+faststart",
    out,
  ];
  try {
    await runFfmpeg(args, sample.pixels);
  } catch (error) {
    const message = `encoding debug sample ${sample.id} failed: ${(error as FfmpegFailure).reason}`;
    throw new A2VError("encode_failed", message, {
      status: 500,
      details: [{ code: "encode_failed", group: sample.group, message }],
      cause: error,
    });
  } finally {
    await rm(audioPath, { force: true });
  }
}

const MAX_ZIP32 = 0xffff_ffff;

/**
 * A minimal streaming zip writer (stored entries, UTF-8 names). The mp4s are already compressed, so
 * deflate would only cost time. Node's zlib.crc32 does the checksums (yazl's crc32 dependency breaks
 * under the `import` export condition that vitest runs with). Archives past 4 GiB (zip64) are refused.
 */
class ZipWriter {
  private readonly central: Buffer[] = [];
  private offset = 0;

  private constructor(private readonly file: FileHandle) {}

  static async create(path: string): Promise<ZipWriter> {
    return new ZipWriter(await open(path, "w"));
  }

  async add(name: string, data: Uint8Array): Promise<void> {
    const nameBytes = Buffer.from(name, "utf8");
    if (this.offset + data.length + 30 + nameBytes.length > MAX_ZIP32 || this.central.length >= 0xffff) {
      const message = "the debug dataset would exceed 4 GiB or 65535 entries (turn off debug_dataset)";
      throw new A2VError("encode_failed", message, { status: 500, details: [{ code: "encode_failed", message }] });
    }
    const crc = crc32(data);
    const { time, date } = dosTime(new Date());
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(0x0314, 4); // made by: unix, 2.0
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(0, 10);
    header.writeUInt16LE(time, 12);
    header.writeUInt16LE(date, 14);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(data.length, 20);
    header.writeUInt32LE(data.length, 24);
    header.writeUInt16LE(nameBytes.length, 28);
    header.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
    header.writeUInt32LE(this.offset, 42);
    this.central.push(header, nameBytes);
    await this.file.writev([local, nameBytes, data]);
    this.offset += local.length + nameBytes.length + data.length;
  }

  async close(): Promise<void> {
    const directory = Buffer.concat(this.central);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.central.length / 2, 8);
    end.writeUInt16LE(this.central.length / 2, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(this.offset, 16);
    await this.file.writev([directory, end]);
    await this.file.close();
  }

  async abort(): Promise<void> {
    await this.file.close();
  }
}

function dosTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((Math.max(1980, d.getFullYear()) - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

/** Builds the debug_dataset zip: per sample `samples/<id>.mp4` and `samples/<id>.txt`, then `manifest.json`. */
export class DebugDatasetWriter {
  private zip: Promise<ZipWriter> | undefined;
  private scratch: string | undefined;

  /** @param tempDir parent of the scratch folder (the run's folder); default the OS temp dir. */
  constructor(
    readonly path: string,
    private readonly tempDir?: string,
  ) {}

  /** Zip entry names of a sample. */
  static entries(id: string): { video: string; caption: string } {
    return { video: `samples/${id}.mp4`, caption: `samples/${id}.txt` };
  }

  private open(): Promise<ZipWriter> {
    this.zip ??= ZipWriter.create(this.path);
    return this.zip;
  }

  /** Encodes a sample and appends it (one mp4 on disk and in memory at a time). */
  async add(sample: TrainingSample): Promise<void> {
    const zip = await this.open();
    this.scratch ??= await createRunDir(this.tempDir);
    const mp4 = join(this.scratch, "sample.mp4");
    await encodeSampleMp4(sample, mp4);
    const names = DebugDatasetWriter.entries(sample.id);
    await zip.add(names.video, await readFile(mp4));
    await zip.add(names.caption, Buffer.from(`${sample.caption}\n`));
  }

  async finish(manifest: unknown): Promise<void> {
    try {
      const zip = await this.open();
      await zip.add("manifest.json", Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
      await zip.close();
    } finally {
      await this.cleanup();
    }
  }

  /** Closes and deletes a partial archive (preprocessing failed). */
  async discard(): Promise<void> {
    await (await this.zip)?.abort().catch(() => undefined);
    await rm(this.path, { force: true });
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    if (this.scratch) await removeRunDir(this.scratch);
  }
}
