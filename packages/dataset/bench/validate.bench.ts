// Validating an archive of N small groups, against listing it (`unzip -l`) and probing its media
// files with ffprobe directly (same arguments and concurrency as probeMedia), in the same run.
// Peak RSS during each loadDataset run is printed, to show memory stays flat with archive size.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { mediaTools } from "@a2v/audio";
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

async function rawFfprobe(files: string[]): Promise<void> {
  const ffprobe = mediaTools().ffprobe.path;
  const common = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams"];
  await settleWithLimit(files, availableParallelism(), (file) =>
    run(ffprobe, [...common, file.endsWith(".png") ? "-count_frames" : "-count_packets", "-i", file]),
  );
}

async function validateMeasuringRss(zip: string, groups: number): Promise<void> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const manifest = await loadDataset(zip, { numberOfFrames: 17 });
    if (manifest.counts.ok !== groups) throw new Error(`expected ${groups} ok groups, got ${manifest.counts.ok}`);
  } finally {
    clearInterval(sampler);
  }
  console.log(
    `[dataset bench] ${groups} groups: RSS ${(before / 2 ** 20).toFixed(0)} MiB before, peak +${((peak - before) / 2 ** 20).toFixed(1)} MiB`,
  );
}

const once = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };

for (const groups of [100, 1000]) {
  const archive = await makeArchive(groups);
  describe(`${groups} small groups (${groups * 4} entries)`, () => {
    // `async` functions: tinybench calls a plain function once more just to see if it returns a promise.
    bench("loadDataset (extract + probe + rules)", async () => validateMeasuringRss(archive.zip, groups), once);
    bench("ffprobe on the loose files directly", async () => rawFfprobe(archive.looseFiles), once);
    bench.skipIf(!hasUnzip)("unzip -l", async () => void (await run("unzip", ["-l", archive.zip])), once);
  });
}
