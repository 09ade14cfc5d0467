import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeAudio, probeAudio } from "@a2v/audio";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  DatasetErrorCodes,
  type DatasetProgress,
  type GroupReport,
  type LoadDatasetOptions,
  loadDataset,
  preprocessSamples,
  probeMedia,
} from "../src/index.js";
import { decodeFrames, decodeStartImage } from "../src/preprocess/video.js";
import { detailKeys, rejection } from "./helpers/expect.js";
import { type Fixtures, ffmpeg, makeFixtures, makeVideo } from "./helpers/media.js";
import { leftoversAfter } from "./helpers/tmp.js";
import { writeZip, type ZipMember } from "./helpers/zip.js";

let fx: Fixtures;
/** An MPEG-TS segment some other file could point at: "any media file on the machine". */
let segment: string;
let count = 0;
beforeAll(async () => {
  fx = await makeFixtures();
  segment = join(fx.dir, "secret.ts");
  await ffmpeg(["-i", fx.end17, "-c", "copy", "-f", "mpegts", segment]);
});
afterAll(() => fx.remove());

const fast: LoadDatasetOptions = { numberOfFrames: 17 };

function hlsPlaylist(target: string): string {
  return `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://${target}\n#EXT-X-ENDLIST\n`;
}

async function zipOf(members: ZipMember[]): Promise<string> {
  return writeZip(join(fx.dir, `hostile${count++}.zip`), members);
}

function group(name: string, overrides: Partial<Record<"start" | "audio" | "end", ZipMember>> = {}): ZipMember[] {
  return [
    overrides.start ?? { name: `${name}_start.png`, file: fx.png },
    overrides.audio ?? { name: `${name}_audio.wav`, file: fx.wav },
    overrides.end ?? { name: `${name}_end.mp4`, file: fx.end17 },
    { name: `${name}.txt`, content: "a caption" },
  ];
}

describe("demuxers pinned to the extension", () => {
  test("an HLS playlist named _end.mp4 / _audio.wav / _start.mp4 with file:// segments is corrupt_media, never followed", async () => {
    const playlist = hlsPlaylist(segment);
    const zip = await zipOf([
      ...group("g1", { end: { name: "g1_end.mp4", content: playlist } }),
      ...group("g2", { audio: { name: "g2_audio.wav", content: playlist } }),
      ...group("g3", { start: { name: "g3_start.mp4", content: playlist } }),
    ]);
    const error = await rejection(loadDataset(zip, fast));
    expect(error.code).toBe(DatasetErrorCodes.corruptMedia);
    expect(detailKeys(error.details)).toEqual([
      "corrupt_media g1 g1_end.mp4",
      "corrupt_media g2 g2_audio.wav",
      "corrupt_media g3 g3_start.mp4",
    ]);
    expect(error.details.find((d) => d.group === "g1")!.message).toContain("cannot read it as .mp4");
    expect(error.message).not.toContain("/tmp/");
  });

  test("an ffconcat list named _end.mp4 (a 194,000-frame target from sibling files) is refused", async () => {
    const list = `ffconcat version 1.0\n${Array.from({ length: 50 }, () => `file ${fx.end17}\n`).join("")}`;
    const error = await rejection(
      loadDataset(await zipOf(group("c", { end: { name: "c_end.mp4", content: list } })), fast),
    );
    expect(detailKeys(error.details)).toEqual(["corrupt_media c c_end.mp4"]);
  });

  test("a PNG named _end.mp4 (with auto_scale_input) and a WAV named .mp4 are corrupt_media", async () => {
    const zip = await zipOf([
      ...group("p", { end: { name: "p_end.mp4", file: fx.png } }),
      ...group("w", { start: { name: "w_start.mp4", file: fx.wav } }),
    ]);
    const error = await rejection(loadDataset(zip, { ...fast, autoScaleInput: true }));
    expect(detailKeys(error.details)).toEqual(["corrupt_media p p_end.mp4", "corrupt_media w w_start.mp4"]);
  });

  test("preprocessing and @a2v/audio decode pin the demuxer too", async () => {
    const fake = join(fx.dir, "fake_end.mp4");
    await writeFile(fake, hlsPlaylist(segment));
    const frames = decodeFrames(
      { path: fake, label: "clips/g1_end.mp4", group: "g1" },
      { bucket: { width: 16, height: 16 }, fps: 24 },
    );
    const error = await rejection(frames.next());
    expect(error.code).toBe("corrupt_media");
    expect(error.message).toMatch(/^group g1: clips\/g1_end\.mp4: /);
    expect(error.message).not.toContain(fx.dir);
    expect((await rejection(decodeStartImage(fake, { width: 16, height: 16 }))).code).toBe("corrupt_media");
    const fakeWav = join(fx.dir, "fake.wav");
    await writeFile(fakeWav, hlsPlaylist(segment));
    expect((await rejection(decodeAudio(fakeWav))).code).toBe("corrupt_media");
    expect((await rejection(probeAudio(fakeWav))).code).toBe("corrupt_media");
    // A JPEG named .png is not handed to sharp as what it is.
    const jpegAsPng = join(fx.dir, "jpeg-as.png");
    await writeFile(jpegAsPng, await readFile(fx.jpg));
    expect((await rejection(decodeStartImage(jpegAsPng, { width: 16, height: 16 }))).code).toBe("corrupt_media");
  });
});

describe("bounded size and length, judged before decoding", () => {
  test("pictures over the pixel cap are media_too_large from their header (a forged 16000x16000 IHDR)", async () => {
    const bytes = Buffer.from(await readFile(fx.png));
    bytes.writeUInt32BE(16000, 16);
    bytes.writeUInt32BE(16000, 20);
    const huge = join(fx.dir, "huge.png");
    await writeFile(huge, bytes);
    const error = await rejection(probeMedia(huge, { label: "huge_start.png" }));
    expect(error.code).toBe(DatasetErrorCodes.mediaTooLarge);
    expect(error.message).toBe("huge_start.png: its picture is 16000x16000, over the limit of 40000000 pixels");
    expect((await rejection(probeMedia(fx.jpg, { limits: { maxPixels: 1000 } }))).code).toBe("media_too_large");
    expect((await rejection(decodeStartImage(fx.png, { width: 8, height: 8 }, { maxPixels: 1000 }))).code).toBe(
      "media_too_large",
    );
  });

  test("audio and clips over the length caps are media_too_large; so are videos past the frame cap", async () => {
    const long = join(fx.dir, "long.flac");
    // 20 minutes of silence in a few kilobytes.
    await ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1200", "-c:a", "flac", long]);
    const error = await rejection(probeMedia(long, { label: "g_audio.flac" }));
    expect(error.code).toBe(DatasetErrorCodes.mediaTooLarge);
    expect(error.message).toMatch(/^g_audio\.flac: it lasts 1200\.\d s, over the limit of 600 s$/);
    expect((await rejection(probeMedia(fx.end17, { limits: { maxVideoFrames: 10 } }))).message).toContain(
      "more than 10 frames",
    );
    const zip = await zipOf(group("long", { audio: { name: "long_audio.flac", file: long } }));
    const rejected = await rejection(loadDataset(zip, fast));
    expect(detailKeys(rejected.details)).toEqual(["media_too_large long long_audio.flac"]);
  });

  test("frames are counted exactly when audio packets fill the bounded count; video pixels are judged from the header", async () => {
    const withAudio = await makeVideo(join(fx.dir, "av17.mp4"), { frames: 17, withAudio: true });
    // 17 video + the audio packets exceed 20 in all: the video's own count is finished separately.
    expect((await probeMedia(withAudio, { limits: { maxVideoFrames: 20 } })).video!.frames).toBe(17);
    expect((await rejection(probeMedia(withAudio, { limits: { maxVideoFrames: 16 } }))).message).toContain(
      "more than 16 frames",
    );
    const wide = await rejection(probeMedia(withAudio, { label: "w_end.mp4", limits: { maxPixels: 4000 } }));
    expect(wide.code).toBe(DatasetErrorCodes.mediaTooLarge);
    expect(wide.message).toBe("w_end.mp4: its picture is 64x64, over the limit of 4000 pixels");
  });

  test("trim/pad mode decodes only the clip's span of the audio (a loud tail past the clip is not read)", async () => {
    const audio = join(fx.dir, "quiet-then-loud.wav");
    await ffmpeg(["-f", "lavfi", "-i", "aevalsrc='if(lt(t,1),0.1,0.9)*sin(2*PI*440*t)':s=16000:d=3", audio]);
    const group = { name: "g", startFile: fx.png, audioFile: audio, endFile: fx.end17, caption: "c" };
    const reports: GroupReport[] = [];
    const options = {
      bucket: { width: 16, height: 16 },
      numberOfFrames: 9,
      frameRate: 24,
      onGroup: (r: GroupReport) => reports.push(r),
    };
    for await (const _ of preprocessSamples([group], { ...options, audioPreservePitch: false })) {
      // drain
    }
    for await (const _ of preprocessSamples([group], options)) {
      // drain
    }
    const [trim, stretch] = reports;
    expect(trim!.audioSeconds).toBeCloseTo(17 / 24, 2);
    expect(stretch!.audioSeconds).toBeCloseTo(3, 2);
    // The gain is measured on what was decoded: the quiet first second only, against the loud tail.
    expect(trim!.audioGain / stretch!.audioGain).toBeCloseTo(9, 1);
  });

  test("an oversized caption is invalid_caption from the directory, never extracted", async () => {
    const events: DatasetProgress[] = [];
    const zip = await zipOf([
      { name: "a_start.png", file: fx.png },
      { name: "a_audio.wav", file: fx.wav },
      { name: "a_end.mp4", file: fx.end17 },
      { name: "a.txt", content: "words ".repeat(20_000) },
    ]);
    const error = await rejection(loadDataset(zip, { ...fast, onProgress: (e) => events.push(e) }));
    expect(detailKeys(error.details)).toEqual(["invalid_caption a a.txt"]);
    expect(error.details[0]!.message).toContain("120000 bytes is too long for a caption");
    const extracted = events.flatMap((e) => (e.phase === "extract" ? [e.file] : []));
    expect(extracted.sort()).toEqual(["a_audio.wav", "a_end.mp4", "a_start.png"]);
  });
});

describe("validation predicts preprocessing", () => {
  test("a target whose frames cannot be decoded and a WAV with no samples are corrupt_media", async () => {
    const bytes = Buffer.from(await readFile(fx.end17));
    const mdat = bytes.indexOf("mdat");
    bytes.fill(0xff, mdat + 4, mdat - 4 + bytes.readUInt32BE(mdat - 4));
    const emptyWav = Buffer.alloc(44);
    emptyWav.write("RIFF", 0);
    emptyWav.writeUInt32LE(36, 4);
    emptyWav.write("WAVEfmt ", 8);
    emptyWav.writeUInt32LE(16, 16);
    emptyWav.writeUInt16LE(1, 20);
    emptyWav.writeUInt16LE(1, 22);
    emptyWav.writeUInt32LE(16000, 24);
    emptyWav.writeUInt32LE(32000, 28);
    emptyWav.writeUInt16LE(2, 32);
    emptyWav.writeUInt16LE(16, 34);
    emptyWav.write("data", 36);
    const zip = await zipOf([
      ...group("garbled", { end: { name: "garbled_end.mp4", content: bytes } }),
      ...group("silent", { audio: { name: "silent_audio.wav", content: emptyWav } }),
    ]);
    const error = await rejection(loadDataset(zip, fast));
    expect(detailKeys(error.details)).toEqual([
      "corrupt_media garbled garbled_end.mp4",
      "corrupt_media silent silent_audio.wav",
    ]);
    expect(error.details[0]!.message).toContain("its video frames cannot be decoded");
  });

  test("length is judged at the training frame rate: 100 frames at 60 fps are 40 at 24 fps", async () => {
    const fast60 = await makeVideo(join(fx.dir, "sixty.mp4"), { frames: 100, fps: 60 });
    const zip = await zipOf(group("hi", { end: { name: "hi_end.mp4", file: fast60 } }));
    const error = await rejection(loadDataset(zip, { numberOfFrames: 89 }));
    expect(error.code).toBe(DatasetErrorCodes.allTargetsTooShort);
    expect(error.details[0]!.message).toBe(
      "hi_end.mp4 has 40 frames at 24 fps (100 at 60 fps), fewer than number_of_frames 89",
    );
    // At 60 fps the same clip is long enough.
    const manifest = await loadDataset(zip, { numberOfFrames: 89, frameRate: 60 });
    expect(manifest.groups[0]).toMatchObject({ status: "ok", targetFrames: 100 });
  });

  test("a preprocessing run that yields no sample is a 422 all_targets_too_short naming the archive paths", async () => {
    const samples = preprocessSamples(
      [
        {
          name: "short",
          startFile: fx.png,
          audioFile: fx.wav,
          endFile: fx.end9,
          caption: "c",
          labels: { start: "short_start.png", audio: "short_audio.wav", end: "clips/short_end.mp4" },
        },
      ],
      { bucket: { width: 16, height: 16 }, numberOfFrames: 17, frameRate: 24 },
    );
    const error = await rejection(samples.next());
    expect(error.code).toBe("all_targets_too_short");
    expect(error.status).toBe(422);
    expect(error.details[0]).toMatchObject({ group: "short", file: "clips/short_end.mp4" });
  });

  test("preprocessing errors name the archive path and group with documented codes, not temp paths", async () => {
    const fake = join(fx.dir, "000002-g1_end.mp4");
    await writeFile(fake, "not a video");
    const samples = preprocessSamples(
      [
        {
          name: "g1",
          startFile: fx.png,
          audioFile: fx.wav,
          endFile: fake,
          caption: "c",
          labels: { end: "g1_end.mp4" },
        },
      ],
      { bucket: { width: 16, height: 16 }, numberOfFrames: 9, frameRate: 24 },
    );
    const error = await rejection(samples.next());
    expect(error.code).toBe("corrupt_media");
    expect(error.message).toMatch(/^group g1: g1_end\.mp4: /);
    expect(error.details[0]).toMatchObject({ code: "corrupt_media", group: "g1", file: "g1_end.mp4" });
    expect(JSON.stringify(error.details)).not.toContain(fx.dir);
  });

  test("hostile media leave no temp files behind", async () => {
    const zip = await zipOf(group("g1", { end: { name: "g1_end.mp4", content: hlsPlaylist(segment) } }));
    expect(await leftoversAfter(() => loadDataset(zip, fast))).toEqual([]);
  });
});
