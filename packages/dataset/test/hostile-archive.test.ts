import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DatasetErrorCodes, type DatasetProgress, loadDataset } from "../src/index.js";
import { rejection } from "./helpers/expect.js";
import { type Fixtures, makeFixtures } from "./helpers/media.js";
import { leftoversAfter } from "./helpers/tmp.js";
import { type RawEntry, rawZip, writeRawZip } from "./helpers/zip.js";

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

const path = () => join(fx.dir, `archive${count++}.zip`);

describe("archive-level zip bomb", () => {
  test("many 1 MiB entries under the per-entry floor trip the archive ratio before anything is extracted", async () => {
    const zeros = Buffer.alloc(1024 * 1024);
    const entries: RawEntry[] = [];
    for (let i = 0; i < 80; i++)
      entries.push({ name: `g${i}_end.mp4`, data: zeros }, { name: `g${i}.txt`, data: zeros });
    const zip = await writeRawZip(path(), entries);
    const events: DatasetProgress[] = [];
    const started = Date.now();
    const error = await rejection(loadDataset(zip, { onProgress: (e) => events.push(e) }));
    expect(error.code).toBe(DatasetErrorCodes.unsafeEntry);
    expect(error.message).toMatch(
      /the archive expands \d+:1 \(\d+ bytes to 167772160\), over 50:1 for the whole archive/,
    );
    expect(events.filter((e) => e.phase !== "download")).toEqual([]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await leftoversAfter(() => loadDataset(zip))).toEqual([]);
  });

  test("probing stops after maxCorruptFiles unreadable files", async () => {
    const entries: RawEntry[] = [];
    for (let i = 0; i < 12; i++) {
      entries.push(
        { name: `b${i}_start.png`, data: Buffer.from("not a png") },
        { name: `b${i}_audio.wav`, data: Buffer.from("not a wav") },
        { name: `b${i}_end.mp4`, data: Buffer.from("not an mp4") },
      );
    }
    const events: DatasetProgress[] = [];
    const error = await rejection(
      loadDataset(await writeRawZip(path(), entries), {
        probeConcurrency: 1,
        triggerPhrase: "t",
        limits: { maxCorruptFiles: 4 },
        onProgress: (e) => events.push(e),
      }),
    );
    expect(error.code).toBe(DatasetErrorCodes.corruptMedia);
    expect(error.details).toHaveLength(5);
    expect(error.details[0]!.message).toBe(
      "probing stopped after 4 refused media files (unreadable or over a limit); 32 more were not checked",
    );
    expect(events.filter((e) => e.phase === "probe")).toHaveLength(4);
  });
});

describe("parser differential", () => {
  test("two concatenated zips are refused (unzip and Python would read the second one's entries)", async () => {
    const decoy = rawZip([{ name: "decoy_start.png", data: Buffer.from("x") }]);
    const zip = path();
    await writeFile(zip, Buffer.concat([decoy, rawZip(good)]));
    // What Python's zipfile sees: the second archive, its offsets shifted by the prefix.
    const python = execFileSync(
      "python3",
      ["-c", "import sys,zipfile;print(zipfile.ZipFile(sys.argv[1]).namelist())", zip],
      {
        encoding: "utf8",
      },
    );
    expect(python).toContain("a_start.png");
    const error = await rejection(loadDataset(zip, { numberOfFrames: 17 }));
    expect(error.code).toBe(DatasetErrorCodes.notAZip);
    expect(error.message).toContain(`${decoy.length} bytes of other data come before the zip`);
    // A plain archive still loads.
    await writeFile(zip, rawZip(good));
    expect((await loadDataset(zip, { numberOfFrames: 17 })).counts.ok).toBe(1);
  });
});
