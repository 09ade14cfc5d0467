import { randomBytes } from "node:crypto";
import { readFile, stat, truncate, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DatasetErrorCodes, type LoadDatasetOptions, loadDataset } from "../src/index.js";
import { detailKeys, rejection } from "./helpers/expect.js";
import { type Fixtures, makeFixtures } from "./helpers/media.js";
import { leftoversAfter } from "./helpers/tmp.js";
import { type RawEntry, type RawZipOptions, rawZip, writeRawZip, writeZip } from "./helpers/zip.js";

let fx: Fixtures;
let good: RawEntry[];
let count = 0;
beforeAll(async () => {
  fx = await makeFixtures();
  good = [
    { name: "a_start.png", data: await readFile(fx.png) },
    { name: "a_audio.wav", data: await readFile(fx.wav) },
    { name: "a_end.mp4", data: await readFile(fx.end17) },
    { name: "a.txt", data: Buffer.from("a caption") },
  ];
});
afterAll(() => fx.remove());

const fast: LoadDatasetOptions = { numberOfFrames: 17 };

async function loadRaw(entries: RawEntry[], options: LoadDatasetOptions = {}, zip?: RawZipOptions) {
  const path = await writeRawZip(join(fx.dir, `raw${count++}.zip`), entries, zip);
  return loadDataset(path, { ...fast, ...options });
}

describe("not a zip", () => {
  test("a text file, an empty file and a truncated zip are not_a_zip (422)", async () => {
    const text = join(fx.dir, "text.zip");
    await writeFile(text, "PK? no, just text that happens to be named .zip");
    const empty = join(fx.dir, "empty.zip");
    await writeFile(empty, "");
    const cut = join(fx.dir, "cut.zip");
    await writeFile(cut, rawZip(good));
    await truncate(cut, (await stat(cut)).size - 30);
    for (const path of [text, empty, cut]) {
      const error = await rejection(loadDataset(path, fast));
      expect(error.code, path).toBe(DatasetErrorCodes.notAZip);
      expect(error.status).toBe(422);
      expect(error.message).toMatch(/^not a valid zip archive: /);
    }
  });

  test("a damaged entry (CRC mismatch) and an unsupported compression method name the entry", async () => {
    const crc = await rejection(loadRaw([...good.slice(0, 3), { ...good[3]!, declaredCrc: 0x1234 }]));
    expect(crc.code).toBe(DatasetErrorCodes.notAZip);
    expect(crc.details[0]).toMatchObject({ file: "a.txt" });
    expect(crc.message).toContain("CRC-32 mismatch");
    const bzip2 = await rejection(loadRaw([{ ...good[0]!, method: 12 }, ...good.slice(1)]));
    expect(bzip2.code).toBe(DatasetErrorCodes.notAZip);
    expect(bzip2.message).toContain("a_start.png: compression method 12 is not supported");
  });

  test("archives with a long comment and zip64 end records are read", async () => {
    const commented = await loadRaw(good, {}, { comment: "x".repeat(3000) });
    expect(commented.counts.ok).toBe(1);
    const zip64 = await loadRaw(good, {}, { zip64: true });
    expect(zip64.counts.ok).toBe(1);
    expect(zip64.archive.entries).toBe(4);
  });
});

describe("hostile entries are refused before anything is extracted", () => {
  const hostile: [string, RawEntry][] = [
    ["parent segment", { name: "../escape_start.png", data: Buffer.from("x") }],
    ["nested parent segment", { name: "a/../../escape.txt", data: Buffer.from("x") }],
    ["backslash parent segment", { name: "..\\escape.txt", data: Buffer.from("x") }],
    ["absolute path", { name: "/tmp/escape_start.png", data: Buffer.from("x") }],
    ["drive letter", { name: "C:/escape.txt", data: Buffer.from("x") }],
    ["symlink", { name: "link_start.png", data: Buffer.from("/etc/passwd"), unixMode: 0o120777 }],
    ["fifo", { name: "pipe.txt", data: Buffer.alloc(0), unixMode: 0o010644 }],
    ["encrypted", { name: "secret.txt", data: Buffer.from("xxxxxxxxxxxxxxxx"), flags: 0x1 }],
    ["control character", { name: "bad\u0001name.txt", data: Buffer.from("x") }],
  ];
  for (const [what, entry] of hostile) {
    test(`${what} -> unsafe_entry`, async () => {
      const error = await rejection(loadRaw([...good, entry]));
      expect(error.code).toBe(DatasetErrorCodes.unsafeEntry);
      expect(error.status).toBe(422);
      expect(error.details).toHaveLength(1);
      expect(error.details[0]!.file).toBe(entry.name);
      expect(error.details[0]!.message.startsWith(`${entry.name}: `)).toBe(true);
    });
  }

  test("every hostile entry is listed, and nothing lands outside or stays in the temp dir", async () => {
    const outside = join(dirname(fx.dir), "escape_start.png");
    const left = await leftoversAfter(async () => {
      const error = await rejection(loadRaw([...good, hostile[0]![1], hostile[3]![1], hostile[5]![1]]));
      expect(detailKeys(error.details)).toEqual([
        "unsafe_entry - ../escape_start.png",
        "unsafe_entry - /tmp/escape_start.png",
        "unsafe_entry - link_start.png",
      ]);
    });
    expect(left).toEqual([]);
    await expect(stat(outside)).rejects.toThrow();
  });

  test("a zip bomb (suspicious compression ratio) -> unsafe_entry", async () => {
    const bomb: RawEntry = { name: "bomb_end.mp4", data: Buffer.alloc(24 * 1024 * 1024) };
    const error = await rejection(loadRaw([...good, bomb]));
    expect(error.code).toBe(DatasetErrorCodes.unsafeEntry);
    expect(error.message).toMatch(/bomb_end\.mp4: compression ratio \d+:1 is over 200:1/);
  });

  test("overlapping entries (several records sharing one body) -> unsafe_entry", async () => {
    const error = await rejection(
      loadRaw([...good, { name: "b_end.mp4", data: good[2]!.data, shareLocalHeaderOf: 2 }]),
    );
    expect(error.code).toBe(DatasetErrorCodes.unsafeEntry);
    expect(error.message).toContain("overlapping entries");
  });

  test("an entry that inflates beyond its declared size is cut off -> unsafe_entry", async () => {
    const liar: RawEntry = { name: "a_end.mp4", data: Buffer.alloc(200_000, 7), declaredSize: 1000 };
    const error = await rejection(loadRaw([...good.slice(0, 2), liar, good[3]!]));
    expect(error.code).toBe(DatasetErrorCodes.unsafeEntry);
    expect(error.message).toContain("a_end.mp4: it expands beyond the 1000 bytes its header declares");
  });
});

describe("caps (archive_too_large)", () => {
  test("an entry over maxEntryBytes", async () => {
    const error = await rejection(loadRaw(good, { caps: { maxEntryBytes: 10_000 } }));
    expect(error.code).toBe(DatasetErrorCodes.archiveTooLarge);
    expect(error.details.map((d) => d.file)).toContain("a_audio.wav");
  });

  test("a total over maxTotalBytes", async () => {
    const error = await rejection(loadRaw(good, { caps: { maxTotalBytes: 20_000 } }));
    expect(error.code).toBe(DatasetErrorCodes.archiveTooLarge);
    expect(error.message).toContain("over the cap of 20000");
  });

  test("more entries than maxEntries, also when a zip64 record forges a huge count", async () => {
    const many = await rejection(loadRaw(good, { caps: { maxEntries: 3 } }));
    expect(many.code).toBe(DatasetErrorCodes.archiveTooLarge);
    expect(many.message).toBe("the archive has 4 entries, over the cap of 3");
    const forged = await rejection(loadRaw(good, {}, { zip64: true, forgedRecordCount: 10n ** 12n }));
    expect(forged.code).toBe(DatasetErrorCodes.archiveTooLarge);
  });

  test("an archive over maxArchiveBytes", async () => {
    const zip = await writeZip(join(fx.dir, "big.zip"), [{ name: "a.bin", content: randomBytes(5000) }]);
    const error = await rejection(loadDataset(zip, { caps: { maxArchiveBytes: 1000 } }));
    expect(error.code).toBe(DatasetErrorCodes.archiveTooLarge);
  });
});
