// Validating an archive of N small groups, against listing it (`unzip -l`) and probing its media
// files with ffprobe directly (same arguments and concurrency as probeMedia), in the same run.
// Peak RSS during each loadDataset run is printed, to show memory stays flat with archive size.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { mediaTools, pinnedInput } from "@a2v/audio";
import { afterAll, bench, describe } from "vitest";
import { loadDataset } from "../src/index.js";
import { settleWithLimit } from "../src/pool.js";
import { makeAudio, makeImage, makeVideo, tempDir } from "../test/helpers/media.js";
import { type RawEntry, rawZip } from "../test/helpers/zip.js";

const run = promisify(execFile);
const { dir, remove } = await tempDir("a2v-dataset-bench-");
afterAll(() => remove());

const [png, wav, mp4] = await Promise.all([
  makeImage(join(dir, "s.png")),
  makeAudio(join(dir, "a.wav"), 1),
  makeVideo(join(dir, "e.mp4"), { frames: 17 }),
]);
const media = { png: await readFile(png), wav: await readFile(wav), mp4: await readFile(mp4) };
const hasUnzip = await run("unzip", ["-v"]).then(
  () => true,
  () => false,
);

/** A zip of `groups` groups, plus the same media files loose on disk for the raw ffprobe baseline. */
async function makeArchive(groups: number): Promise<{ zip: string; looseFiles: string[] }> {
  const entries: RawEntry[] = [];
  const looseDir = join(dir, `loose-${groups}`);
  await mkdir(looseDir);
  const looseFiles: string[] = [];
  for (let i = 0; i < groups; i++) {
    const name = `g${String(i).padStart(4, "0")}`;
    for (const [suffix, data] of [
      ["_start.png", media.png],
      ["_audio.wav", media.wav],
      ["_end.mp4", media.mp4],
    ] as const) {
      entries.push({ name: `${name}${suffix}`, data });
      const loose = join(looseDir, `${name}${suffix}`);
      await writeFile(loose, data);
      looseFiles.push(loose);
    }
    entries.push({ name: `${name}.txt`, data: Buffer.from(`group ${i}`) });
  }
  const zip = join(dir, `groups-${groups}.zip`);
  await writeFile(zip, rawZip(entries));
  return { zip, looseFiles };
}

/** The ffprobe runs probeMedia makes (pinned demuxer; header + packet count, then header + first-packet decode). */
async function rawFfprobe(files: string[]): Promise<void> {
  const ffprobe = mediaTools().ffprobe.path;
  const common = ["-v", "error", "-print_format", "json"];
  await settleWithLimit(files, Math.min(availableParallelism(), 4), async (file) => {
    const image = file.endsWith(".png");
    if (!image) {
      await run(ffprobe, [
        ...common,
        ...["-nofind_stream_info", "-show_format", "-show_streams", "-count_packets", "-read_intervals", "%+#36001"],
        ...pinnedInput(file),
      ]);
    }
    await run(ffprobe, [
      ...common,
      ...["-show_format", "-show_streams", "-count_frames"],
      ...(image ? [] : ["-read_intervals", "%+#32"]),
      ...pinnedInput(file),
    ]);
  });
}

async function validateMeasuringRss(zip: string, groups: number): Promise<void> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  let archiveMiB = 0;
  try {
    // The large-archive case holds audio past the default 600 s limit (400 MiB of 48 kHz stereo is 36 min).
    const manifest = await loadDataset(zip, { numberOfFrames: 17, limits: { maxMediaSeconds: 24 * 3600 } });
    if (manifest.counts.ok !== groups) throw new Error(`expected ${groups} ok groups, got ${manifest.counts.ok}`);
    archiveMiB = manifest.archive.bytes / 2 ** 20;
  } finally {
    clearInterval(sampler);
  }
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  console.log(
    `[dataset bench] ${groups} groups, ${archiveMiB.toFixed(1)} MiB archive: RSS ${mib(before)} MiB before, peak +${mib(peak - before)} MiB`,
  );
}

/**
 * A few groups whose `_audio.wav` is `mib` MiB of noise (incompressible), zipped by Python's
 * streaming zipfile so the bench process never holds the archive either.
 */
async function makeLargeArchive(groups: number, mib: number): Promise<string> {
  const big = join(dir, "noise.wav");
  const seconds = (mib * 2 ** 20) / (48000 * 2 * 2);
  await run(mediaTools().ffmpeg.path, [
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `anoisesrc=r=48000:d=${seconds}`,
    "-ac",
    "2",
    big,
  ]);
  const zip = join(dir, `large-${groups}x${mib}.zip`);
  const members = Array.from({ length: groups }, (_, i) => [
    [png, `g${i}_start.png`],
    [big, `g${i}_audio.wav`],
    [mp4, `g${i}_end.mp4`],
  ]).flat();
  const script = `import sys, json, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    for src, name in json.loads(sys.argv[2]):
        z.write(src, name)
        z.writestr(name.rsplit("_", 1)[0] + ".txt", "noise") if name.endswith("_start.png") else None`;
  await run("python3", ["-c", script, zip, JSON.stringify(members)]);
  return zip;
}

const once = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };
// A2V_BENCH_GROUPS="100,1000" (default) picks the small-group archives; "" runs only the large one.
const groupCounts = (process.env.A2V_BENCH_GROUPS ?? "100,1000").split(",").filter(Boolean).map(Number);

// A2V_BENCH_LARGE_MIB sets the size of each large audio file (default 100).
const largeMiB = Number(process.env.A2V_BENCH_LARGE_MIB ?? 100);
const largeZip = await makeLargeArchive(4, largeMiB);
describe(`memory vs archive size: 4 groups with a ${largeMiB} MiB audio file each`, () => {
  bench("loadDataset (extract + probe + rules)", async () => validateMeasuringRss(largeZip, 4), once);
  bench.skipIf(!hasUnzip)("unzip -l", async () => void (await run("unzip", ["-l", largeZip])), once);
});

for (const groups of groupCounts) {
  const archive = await makeArchive(groups);
  describe(`${groups} small groups (${groups * 4} entries)`, () => {
    // `async` functions: tinybench calls a plain function once more just to see if it returns a promise.
    bench("loadDataset (extract + probe + rules)", async () => validateMeasuringRss(archive.zip, groups), once);
    bench("ffprobe on the loose files directly", async () => rawFfprobe(archive.looseFiles), once);
    bench.skipIf(!hasUnzip)("unzip -l", async () => void (await run("unzip", ["-l", archive.zip])), once);
  });
}
