import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decodeCp437, formatManifest, loadDataset, printable } from "../src/index.js";
import { rejection } from "./helpers/expect.js";
import { type Fixtures, makeFixtures } from "./helpers/media.js";
import { type RawEntry, writeRawZip } from "./helpers/zip.js";

let fx: Fixtures;
let data: { start: Buffer; audio: Buffer; end: Buffer };
let count = 0;
beforeAll(async () => {
  fx = await makeFixtures();
  data = { start: await readFile(fx.png), audio: await readFile(fx.wav), end: await readFile(fx.end17) };
});
afterAll(() => fx.remove());

const options = { numberOfFrames: 17, triggerPhrase: "t" };
const load = async (entries: RawEntry[]) =>
  loadDataset(await writeRawZip(join(fx.dir, `names${count++}.zip`), entries), options);

/** A full group whose names are built by `name(suffix)` (the suffix includes the extension). */
function group(name: (suffix: string) => Omit<RawEntry, "data">): RawEntry[] {
  return [
    { ...name("_start.png"), data: data.start },
    { ...name("_audio.wav"), data: data.audio },
    { ...name("_end.mp4"), data: data.end },
  ];
}

function unicodePathExtra(stored: Buffer, name: string): Buffer {
  const utf8 = Buffer.from(name, "utf8");
  const field = Buffer.alloc(9 + utf8.length);
  field.writeUInt16LE(0x7075, 0);
  field.writeUInt16LE(5 + utf8.length, 2);
  field.writeUInt8(1, 4);
  field.writeUInt32LE(crc32(stored) >>> 0, 5);
  utf8.copy(field, 9);
  return field;
}

describe("entry names", () => {
  test("names without the UTF-8 flag are CP437: Müller and Möller are two groups, not duplicates", async () => {
    const cp437 = (base: number[]) => (suffix: string) => {
      const bytes = Buffer.concat([Buffer.from(base), Buffer.from(suffix, "latin1")]);
      return { name: "", nameBytes: bytes, utf8: false };
    };
    const manifest = await load([
      ...group(cp437([0x4d, 0x81, 0x6c, 0x6c, 0x65, 0x72])),
      ...group(cp437([0x4d, 0x94, 0x6c, 0x6c, 0x65, 0x72])),
    ]);
    expect(manifest.groups.map((g) => [g.name, g.status])).toEqual([
      ["Möller", "ok"],
      ["Müller", "ok"],
    ]);
    expect(decodeCp437(Buffer.from([0x82, 0xe1, 0xff]))).toBe("éß\u00a0");
  });

  test("the Info-ZIP Unicode Path extra field names an entry whose stored bytes are another code page", async () => {
    const cp932 = Buffer.from([0x89, 0xb9, 0x90, 0xba]); // 音声 in Shift-JIS
    const manifest = await load(
      group((suffix) => {
        const stored = Buffer.concat([cp932, Buffer.from(suffix)]);
        return { name: "", nameBytes: stored, utf8: false, extra: unicodePathExtra(stored, `音声${suffix}`) };
      }),
    );
    expect(manifest.groups.map((g) => g.name)).toEqual(["音声"]);
  });

  test("NFC and NFD spellings of a name are one group", async () => {
    const nfc = "caf\u00e9";
    const nfd = "cafe\u0301";
    const manifest = await load([
      { name: `${nfc}_start.png`, data: data.start },
      { name: `${nfd}_audio.wav`, data: data.audio },
      { name: `${nfc}_end.mp4`, data: data.end },
      { name: `${nfd}.txt`, data: Buffer.from("caption") },
    ]);
    expect(manifest.groups.map((g) => [g.name, g.status, g.caption])).toEqual([[nfc, "ok", "t caption"]]);
  });

  test("a legal 250-byte name is extracted (extracted files do not keep their names)", async () => {
    const long = "x".repeat(240);
    const manifest = await load(group((suffix) => ({ name: `${long}${suffix}` })));
    expect(Buffer.byteLength(manifest.groups[0]!.target.archivePath)).toBe(248);
    expect(manifest.counts.ok).toBe(1);
  });

  test("bidi overrides and C1 controls are escaped in human output, kept in JSON details", async () => {
    const sneaky = "clip\u202egnp.exe\u0085";
    const manifest = await load(group((suffix) => ({ name: `${sneaky}${suffix}` })));
    const text = formatManifest(manifest);
    expect(text).toContain("clip\\u202Egnp.exe\\u0085: ok");
    expect(text).not.toMatch(/[\u202e\u0085]/);
    const error = await rejection(
      loadDataset(
        await writeRawZip(join(fx.dir, `names${count++}.zip`), group((s) => ({ name: `${sneaky}${s}` })).slice(0, 2)),
        options,
      ),
    );
    expect(error.message).toContain("group clip\\u202Egnp.exe\\u0085 has no");
    expect(error.message).not.toMatch(/[\u202e\u0085]/);
    expect(error.details[0]!.group).toBe(sneaky);
    expect(printable("a\u2066b\u200fc\u009bd")).toBe("a\\u2066b\\u200Fc\\u009Bd");
  });
});
