import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { type DatasetManifest, formatManifest, loadDataset } from "../src/index.js";
import { tempDir } from "./helpers/media.js";

const exampleDir = fileURLToPath(new URL("../../../examples/dataset/", import.meta.url));
const exampleZip = join(exampleDir, "a2v-example.zip");

function expectExampleShape(manifest: DatasetManifest): void {
  expect(manifest.counts).toEqual({ groups: 3, ok: 3, skipped: 0 });
  const byName = Object.fromEntries(manifest.groups.map((g) => [g.name, g]));
  expect(byName.clip01).toMatchObject({ audioSource: "audio_file", start: { kind: "image" } });
  expect(byName.clip02!.audio!.archivePath).toBe("more/clip02_audio.mp3");
  expect(byName.clip03).toMatchObject({ audioSource: "start_video", start: { kind: "video" } });
  expect(byName.clip03!.audio).toBeUndefined();
  for (const group of manifest.groups) {
    expect(group.target.probe.video).toMatchObject({ width: 128, height: 128, fps: 24, frames: 96 });
    expect(group.caption.length).toBeGreaterThan(10);
  }
  expect(manifest.warnings.map((w) => w.code)).toEqual(["few_groups"]);
}

describe("the example dataset (examples/dataset)", () => {
  test("the committed archive is valid with the service defaults and stays small", async () => {
    expect((await stat(exampleZip)).size).toBeLessThan(1024 * 1024);
    const manifest = await loadDataset(exampleZip);
    expectExampleShape(manifest);
    expect(manifest.options).toEqual({
      triggerPhrase: "",
      numberOfFrames: 89,
      autoScaleInput: false,
      frameRate: 24,
    });
  });

  test("formatManifest summarises groups, sources, captions and warnings", async () => {
    const manifest = await loadDataset(exampleZip, {
      triggerPhrase: "a2vdemo",
      numberOfFrames: 97,
      autoScaleInput: true,
    });
    const text = formatManifest(manifest);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^dataset .*a2v-example\.zip: 3 groups \(3 ok, 0 skipped\), \d+\.\d KiB, 11 entries$/);
    expect(lines[1]).toBe('options: number_of_frames 97, auto_scale_input on, trigger_phrase "a2vdemo"');
    expect(lines).toContain("clip03: ok");
    expect(lines).toContain("  audio   audio track of clips/clip03_start.mp4");
    expect(lines).toContain("  start   clips/clip01_start.png (128x128 png)");
    expect(lines).toContain("  target  clips/clip01_end.mp4 (128x128, 96 frames @ 24 fps, 4.00 s)");
    expect(lines).toContain('  caption "a2vdemo a colourful test pattern scrolling slowly"');
    expect(lines.at(-2)).toBe("warnings (1):");
    expect(lines.at(-1)).toBe("  - [few_groups] only 3 usable groups; at least 10 are recommended");
  });

  test("make.sh regenerates an equivalent archive", async () => {
    const { dir, remove } = await tempDir("a2v-example-");
    try {
      const out = join(dir, "rebuilt.zip");
      await promisify(execFile)("bash", [join(exampleDir, "make.sh"), out]);
      expectExampleShape(await loadDataset(out));
    } finally {
      await remove();
    }
  });
});
