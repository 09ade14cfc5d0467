import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  DatasetErrorCodes,
  DatasetWarningCodes,
  formatManifest,
  type LoadDatasetOptions,
  loadDataset,
} from "../src/index.js";
import { detailKeys, rejection } from "./helpers/expect.js";
import { type Fixtures, makeFixtures, makeVideo } from "./helpers/media.js";
import { leftoversAfter } from "./helpers/tmp.js";
import { writeZip, type ZipMember } from "./helpers/zip.js";

let fx: Fixtures;
let zipCount = 0;
beforeAll(async () => {
  fx = await makeFixtures();
});
afterAll(() => fx.remove());

/** Short clips keep the suite fast: the fixtures' long target has 17 frames. */
const fast: LoadDatasetOptions = { numberOfFrames: 17 };

async function load(members: ZipMember[], options: LoadDatasetOptions = {}) {
  const zip = await writeZip(join(fx.dir, `t${zipCount++}.zip`), members);
  return loadDataset(zip, { ...fast, ...options });
}

/** A complete image-start group. */
function group(name: string, folder = ""): ZipMember[] {
  return [
    { name: `${folder}${name}_start.png`, file: fx.png },
    { name: `${folder}${name}_audio.wav`, file: fx.wav },
    { name: `${folder}${name}_end.mp4`, file: fx.end17 },
    { name: `${folder}${name}.txt`, content: `a test pattern called ${name}` },
  ];
}

describe("grouping", () => {
  test("groups by base name across nested folders with mixed-case suffixes and extensions", async () => {
    const manifest = await load([
      { name: "deep/er/clip01_start.PNG", file: fx.png },
      { name: "clip01_Audio.WAV", file: fx.wav },
      { name: "other/clip01_END.Mp4", file: fx.end17 },
      { name: "clip01.TXT", content: "caption one" },
      { name: "x/clip02_start.jpg", file: fx.jpg },
      { name: "x/clip02_audio.wav", file: fx.wav },
      { name: "x/clip02_end.mp4", file: fx.end17 },
      { name: "x/clip02.txt", content: "caption two" },
    ]);
    expect(manifest.groups.map((g) => g.name)).toEqual(["clip01", "clip02"]);
    const [one, two] = manifest.groups;
    expect(one!.start.archivePath).toBe("deep/er/clip01_start.PNG");
    expect(one!.start.kind).toBe("image");
    expect(one!.audio!.archivePath).toBe("clip01_Audio.WAV");
    expect(one!.target.archivePath).toBe("other/clip01_END.Mp4");
    expect(one!.captionFile).toBe("clip01.TXT");
    expect(one!.caption).toBe("caption one");
    expect(two!.start.probe.video).toMatchObject({ codec: "mjpeg", width: 64, height: 64 });
    expect(one!.target.probe.video).toMatchObject({ frames: 17, fps: 24, width: 64, height: 64 });
    expect(one!.audio!.probe.audio!.durationSec).toBeCloseTo(0.75, 2);
    expect(manifest.counts).toEqual({ groups: 2, ok: 2, skipped: 0 });
    expect(manifest.archive.entries).toBe(8);
  });

  test("a start video with an audio track is the audio source when there is no _audio file", async () => {
    const manifest = await load([
      { name: "talk_start.mp4", file: fx.startWithAudio },
      { name: "talk_end.mp4", file: fx.end17 },
      { name: "talk.txt", content: "someone talks" },
    ]);
    const [talk] = manifest.groups;
    expect(talk!.start.kind).toBe("video");
    expect(talk!.audioSource).toBe("start_video");
    expect(talk!.audio).toBeUndefined();
    expect(talk!.start.probe.audio).toMatchObject({ codec: "aac", sampleRate: 16000 });
  });

  test("an _audio file wins over the start video's track, with a warning", async () => {
    const manifest = await load([
      { name: "both_start.mp4", file: fx.startWithAudio },
      { name: "both_audio.wav", file: fx.wav },
      { name: "both_end.mp4", file: fx.end17 },
      { name: "both.txt", content: "two sources" },
    ]);
    expect(manifest.groups[0]!.audioSource).toBe("audio_file");
    expect(manifest.warnings.map((w) => w.code)).toContain(DatasetWarningCodes.audioFilePreferred);
  });

  test("macOS metadata is ignored silently, other unknown files and lone captions with a warning", async () => {
    const manifest = await load([
      ...group("a"),
      { name: "__MACOSX/._a_start.png", content: "resource fork" },
      { name: "__MACOSX/a_end.mp4", content: "not really" },
      { name: "._a_audio.wav", content: "apple double" },
      { name: "sub/.DS_Store", content: "finder" },
      { name: "notes.md", content: "hello" },
      { name: "a_start.webp", content: "unsupported extension" },
      { name: "lonely.txt", content: "a caption without media" },
      { name: "README.txt", content: "about this dataset" },
      { name: "docs/README.txt", content: "a second readme" },
      { name: "empty-folder/", content: "" },
    ]);
    expect(manifest.groups.map((g) => g.name)).toEqual(["a"]);
    const warned = manifest.warnings.filter((w) => w.code !== DatasetWarningCodes.fewGroups);
    expect(warned.map((w) => `${w.code} ${w.file}`).sort()).toEqual([
      "orphan_caption README.txt",
      "orphan_caption docs/README.txt",
      "orphan_caption lonely.txt",
      "unknown_file a_start.webp",
      "unknown_file notes.md",
    ]);
    expect(warned.find((w) => w.file === "a_start.webp")!.message).toMatch(
      /\.webp is not a supported _start extension/,
    );
    expect(manifest.ignored).toEqual([
      "._a_audio.wav",
      "README.txt",
      "__MACOSX/._a_start.png",
      "__MACOSX/a_end.mp4",
      "a_start.webp",
      "docs/README.txt",
      "lonely.txt",
      "notes.md",
      "sub/.DS_Store",
    ]);
  });
});

describe("captions and the trigger phrase", () => {
  test("caption files are UTF-8 with the BOM stripped and whitespace trimmed", async () => {
    const manifest = await load([
      ...group("a").slice(0, 3),
      {
        name: "a.txt",
        content: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("  Grüße aus Köln \n\n")]),
      },
    ]);
    expect(manifest.groups[0]!.caption).toBe("Grüße aus Köln");
  });

  test("the trigger phrase is prepended once, and alone stands in for a missing caption", async () => {
    const manifest = await load(
      [
        ...group("plain"),
        ...group("has").slice(0, 3),
        { name: "has.txt", content: "a SKS-Person talking" },
        ...group("none").slice(0, 3),
      ],
      { triggerPhrase: "  sks-person " },
    );
    const captions = Object.fromEntries(manifest.groups.map((g) => [g.name, g.caption]));
    expect(captions).toEqual({
      plain: "sks-person a test pattern called plain",
      has: "a SKS-Person talking",
      none: "sks-person",
    });
    expect(manifest.groups.find((g) => g.name === "none")!.captionFile).toBeUndefined();
    expect(manifest.options.triggerPhrase).toBe("sks-person");
  });
});

describe("minimum length", () => {
  test("short targets are skipped with a warning when auto_scale_input is off", async () => {
    const manifest = await load([
      ...group("long"),
      ...group("short").slice(0, 2),
      { name: "short_end.mp4", file: fx.end9 },
      { name: "short.txt", content: "too short" },
    ]);
    const short = manifest.groups.find((g) => g.name === "short")!;
    expect(short.status).toBe("skipped");
    expect(short.skipReason).toBe("target_too_short");
    expect(manifest.counts).toEqual({ groups: 2, ok: 1, skipped: 1 });
    const warning = manifest.warnings.find((w) => w.code === DatasetWarningCodes.targetTooShort)!;
    expect(warning).toMatchObject({ group: "short", file: "short_end.mp4" });
    expect(warning.message).toContain("9 frames, fewer than number_of_frames 17");
    expect(formatManifest(manifest).split("\n")).toContain("short: skipped (target_too_short)");
  });

  test("every target too short -> all_targets_too_short (422) naming each target", async () => {
    const members = ["a", "b"].flatMap((name) => [
      ...group(name).slice(0, 2),
      { name: `${name}_end.mp4`, file: fx.end9 },
      { name: `${name}.txt`, content: name },
    ]);
    const error = await rejection(load(members));
    expect(error.status).toBe(422);
    expect(error.code).toBe(DatasetErrorCodes.allTargetsTooShort);
    expect(detailKeys(error.details)).toEqual([
      "all_targets_too_short a a_end.mp4",
      "all_targets_too_short b b_end.mp4",
    ]);
  });

  test("with auto_scale_input on, short targets are kept", async () => {
    const manifest = await load(
      [...group("a").slice(0, 2), { name: "a_end.mp4", file: fx.end9 }, { name: "a.txt", content: "a" }],
      { autoScaleInput: true },
    );
    expect(manifest.groups[0]!.status).toBe("ok");
    expect(manifest.options.autoScaleInput).toBe(true);
  });

  test("number_of_frames defaults to 89 and is snapped down to 8k+1", async () => {
    const members = group("a");
    const byDefault = await rejection(loadDataset(await writeZip(join(fx.dir, "default.zip"), members)));
    expect(byDefault.code).toBe(DatasetErrorCodes.allTargetsTooShort);
    expect(byDefault.details[0]!.message).toBe("a_end.mp4 has 17 frames, fewer than number_of_frames 89");
    const snapped = await load(members, { numberOfFrames: 24, autoScaleInput: false });
    expect(snapped.options.numberOfFrames).toBe(17);
    expect(snapped.groups[0]!.status).toBe("ok");
  });

  test("an out-of-range number_of_frames is refused", async () => {
    const error = await rejection(load(group("a"), { numberOfFrames: 200 }));
    expect(error.code).toBe(DatasetErrorCodes.invalidOption);
    expect(error.status).toBe(422);
  });
});

describe("rejections (422, every problem at once)", () => {
  test("every group without audio is named under missing_audio", async () => {
    const error = await rejection(
      load([
        ...group("ok"),
        { name: "img_start.png", file: fx.png },
        { name: "img_end.mp4", file: fx.end17 },
        { name: "img.txt", content: "image start, no audio" },
        { name: "vid_start.mp4", file: fx.startSilent },
        { name: "vid_end.mp4", file: fx.end17 },
        { name: "vid.txt", content: "silent start video" },
      ]),
    );
    expect(error.status).toBe(422);
    expect(error.code).toBe(DatasetErrorCodes.missingAudio);
    expect(detailKeys(error.details)).toEqual(["missing_audio img -", "missing_audio vid -"]);
    expect(error.details.find((d) => d.group === "vid")!.message).toContain("vid_start.mp4 has no audio track");
    expect(error.message).toContain("2 problems");
  });

  test("all rule violations are collected into one invalid_dataset error", async () => {
    await writeFile(join(fx.dir, "garbage.mp4"), "this is not a video at all");
    const error = await rejection(
      load([
        ...group("fine"),
        // missing start
        { name: "nostart_audio.wav", file: fx.wav },
        { name: "nostart_end.mp4", file: fx.end17 },
        { name: "nostart.txt", content: "x" },
        // missing target
        { name: "noend_start.png", file: fx.png },
        { name: "noend_audio.wav", file: fx.wav },
        { name: "noend.txt", content: "x" },
        // missing caption (no trigger phrase)
        { name: "nocap_start.png", file: fx.png },
        { name: "nocap_audio.wav", file: fx.wav },
        { name: "nocap_end.mp4", file: fx.end17 },
        // empty caption
        { name: "blank_start.png", file: fx.png },
        { name: "blank_audio.wav", file: fx.wav },
        { name: "blank_end.mp4", file: fx.end17 },
        { name: "blank.txt", content: " \n\t " },
        // caption that is not UTF-8
        { name: "latin_start.png", file: fx.png },
        { name: "latin_audio.wav", file: fx.wav },
        { name: "latin_end.mp4", file: fx.end17 },
        { name: "latin.txt", content: Buffer.from([0x63, 0x61, 0x66, 0xe9]) },
        // undecodable target, and a "wav" that is text
        { name: "broken_start.png", file: fx.png },
        { name: "broken_audio.wav", content: "RIFF? no." },
        { name: "broken_end.mp4", file: join(fx.dir, "garbage.mp4") },
        { name: "broken.txt", content: "x" },
        // an audio file where a picture is needed
        { name: "wrongkind_start.mp4", file: fx.wav },
        { name: "wrongkind_audio.wav", file: fx.wav },
        { name: "wrongkind_end.mp4", file: fx.end17 },
        { name: "wrongkind.txt", content: "x" },
        // same file name in two folders
        ...group("dup", "one/"),
        { name: "two/dup_end.mp4", file: fx.end17 },
        // two start files
        ...group("amb"),
        { name: "amb_start.jpg", file: fx.jpg },
      ]),
    );
    expect(error.status).toBe(422);
    expect(error.code).toBe(DatasetErrorCodes.invalidDataset);
    expect(detailKeys(error.details)).toEqual([
      "ambiguous_group amb amb_start.jpg",
      "corrupt_media broken broken_audio.wav",
      "corrupt_media broken broken_end.mp4",
      "corrupt_media wrongkind wrongkind_start.mp4",
      "duplicate_name dup two/dup_end.mp4",
      "invalid_caption latin latin.txt",
      "missing_caption blank -",
      "missing_caption nocap -",
      "missing_start nostart -",
      "missing_target noend -",
    ]);
    const byKey = (code: string, group: string) => error.details.find((d) => d.code === code && d.group === group)!;
    expect(byKey("duplicate_name", "dup").message).toContain("one/dup_end.mp4 and two/dup_end.mp4");
    expect(byKey("ambiguous_group", "amb").message).toContain("amb_start.png and amb_start.jpg");
    expect(byKey("corrupt_media", "broken").message).toMatch(/broken_(audio|end)\.\w+: ffprobe cannot read it/);
    // A WAV named .mp4 is not read as what it is: the demuxer is pinned to the extension.
    expect(byKey("corrupt_media", "wrongkind").message).toContain("cannot read it as .mp4");
    expect(byKey("missing_caption", "blank").message).toContain("blank.txt is empty");
    expect(error.message).toContain("10 problems");
    expect(error.toJSON()).toMatchObject({ status: 422, code: "invalid_dataset" });
  });

  test("no group at all -> empty_dataset", async () => {
    const onlyJunk = await rejection(
      load([
        { name: "readme.md", content: "hi" },
        { name: "a.txt", content: "x" },
      ]),
    );
    expect(onlyJunk.code).toBe(DatasetErrorCodes.emptyDataset);
    expect(onlyJunk.status).toBe(422);
    const empty = await rejection(load([]));
    expect(empty.code).toBe(DatasetErrorCodes.emptyDataset);
    expect(empty.message).toBe("the archive is empty");
  });
});

describe("warnings from the spec's tips", () => {
  test("fewer than 10 groups and audio much shorter than its clip are warned about", async () => {
    const long = await makeVideo(join(fx.dir, "long-end.mp4"), { frames: 48 });
    const manifest = await load([
      ...group("a").slice(0, 2),
      { name: "a_end.mp4", file: long },
      { name: "a.txt", content: "audio 0.75 s for a 2 s clip" },
    ]);
    const codes = manifest.warnings.map((w) => w.code);
    expect(codes).toContain(DatasetWarningCodes.fewGroups);
    expect(manifest.warnings.find((w) => w.code === DatasetWarningCodes.shortAudio)).toMatchObject({
      group: "a",
      file: "a_audio.wav",
    });
  });

  test("ten groups do not trigger the few-groups warning", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `g${i}`);
    const manifest = await load(
      names.flatMap((n) => group(n)),
      { probeConcurrency: 4 },
    );
    expect(manifest.counts.ok).toBe(10);
    expect(manifest.warnings).toEqual([]);
  });
});

describe("files on disk", () => {
  test("extractTo keeps the used files and reports their local paths; temp files are always removed", async () => {
    const keep = join(fx.dir, "kept");
    let manifestRoot: string | undefined;
    const left = await leftoversAfter(async () => {
      const manifest = await load([...group("a"), { name: "junk.bin", content: "ignored" }], { extractTo: keep });
      manifestRoot = manifest.root;
      const [a] = manifest.groups;
      expect(a!.start.localPath).toMatch(/a_start\.png$/);
      expect(a!.target.localPath!.startsWith(keep)).toBe(true);
    });
    expect(left).toEqual([]);
    expect(manifestRoot).toBe(keep);
    const kept = await readdir(keep);
    expect(kept).toHaveLength(4);
    expect(kept.some((f) => f.includes("junk"))).toBe(false);
  });

  test("a failed run leaves neither temp files nor extracted files behind", async () => {
    const keep = join(fx.dir, "kept-failed");
    const left = await leftoversAfter(() => load(group("a").slice(0, 2), { extractTo: keep }));
    expect(left).toEqual([]);
    expect(await readdir(keep)).toEqual([]);
  });

  test("extractTo must be empty, and an occupied one is left untouched", async () => {
    const keep = join(fx.dir, "occupied");
    await load(group("a"), { extractTo: keep });
    const before = await readdir(keep);
    const error = await rejection(load(group("b"), { extractTo: keep }));
    expect(error.code).toBe(DatasetErrorCodes.invalidOption);
    expect(await readdir(keep)).toEqual(before);
  });

  test("without extractTo no local paths are reported", async () => {
    const manifest = await load(group("a"));
    expect(manifest.root).toBeUndefined();
    expect(manifest.groups[0]!.start.localPath).toBeUndefined();
  });
});
