import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { mediaTools } from "@a2v/audio";

const run = promisify(execFile);

const ffmpeg = (args: string[]) => run(mediaTools().ffmpeg.path, ["-hide_banner", "-v", "error", "-y", ...args]);

export interface GroupSpec {
  name: string;
  /** lavfi video source, e.g. `testsrc2` or `mandelbrot`. */
  source: string;
  frames: number;
  /** Sine frequency of the conditioning audio; no audio file when absent. */
  tone?: number;
  caption?: string;
}

/**
 * A dataset archive as a user would upload it: per group a PNG start image (the target's first frame), a WAV
 * conditioning track, an `_end.mp4` target at 24 fps and a caption; zipped with Python's zipfile.
 */
export async function makeArchive(dir: string, groups: GroupSpec[]): Promise<string> {
  const files = join(dir, "groups");
  await mkdir(files, { recursive: true });
  for (const g of groups) {
    const end = join(files, `${g.name}_end.mp4`);
    const seconds = g.frames / 24;
    await ffmpeg([
      ...["-f", "lavfi", "-i", `${g.source}=size=160x96:rate=24`, "-frames:v", String(g.frames)],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", end],
    ]);
    await ffmpeg(["-i", end, "-frames:v", "1", join(files, `${g.name}_start.png`)]);
    if (g.tone !== undefined) {
      const sine = `sine=frequency=${g.tone}:sample_rate=16000:duration=${seconds}`;
      await ffmpeg(["-f", "lavfi", "-i", sine, join(files, `${g.name}_audio.wav`)]);
    }
    if (g.caption !== undefined) await writeFile(join(files, `${g.name}.txt`), `${g.caption}\n`);
  }
  const zip = join(dir, "dataset.zip");
  const script = [
    "import os, sys, zipfile",
    "root, out = sys.argv[1], sys.argv[2]",
    "with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:",
    "    for name in sorted(os.listdir(root)): z.write(os.path.join(root, name), name)",
  ].join("\n");
  await run("python3", ["-c", script, files, zip]);
  return zip;
}
