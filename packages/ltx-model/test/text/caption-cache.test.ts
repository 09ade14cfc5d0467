import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CaptionCache, type CaptionFeatures } from "../../src/text/caption-cache.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function features(seed: number): CaptionFeatures {
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i));
  return {
    video: { shape: [6, 4], data: fill(24) },
    audio: { shape: [6, 2], data: fill(12) },
    mask: { shape: [6], data: Float32Array.from([0, 0, 1, 1, 1, 1]) },
  };
}

describe("caption cache", () => {
  it("computes each caption once per model, survives a new cache instance, and keys by text and model", async () => {
    const dir = await mkdtemp(join(tmpdir(), "a2v-captions-"));
    dirs.push(dir);
    let calls = 0;
    const compute = (seed: number) => async () => {
      calls++;
      return features(seed);
    };
    const cache = new CaptionCache(dir);
    const [a, b] = await Promise.all([
      cache.getOrCompute("gemma-3-12b|ltx-2.3", "a cat sings", compute(1)),
      cache.getOrCompute("gemma-3-12b|ltx-2.3", "a cat sings", compute(1)),
    ]);
    expect(calls).toBe(1);
    expect(Array.from(a.video.data)).toEqual(Array.from(features(1).video.data));
    expect(b).toBe(a);
    const again = await new CaptionCache(dir).getOrCompute("gemma-3-12b|ltx-2.3", "a cat sings", compute(9));
    expect(calls).toBe(1);
    expect(again.mask.shape).toEqual([6]);
    expect(Array.from(again.audio.data)).toEqual(Array.from(features(1).audio.data));
    await cache.getOrCompute("other-model", "a cat sings", compute(2));
    await cache.getOrCompute("gemma-3-12b|ltx-2.3", "a cat sings.", compute(3));
    expect(calls).toBe(3);
    expect((await readdir(dir)).filter((f) => f.endsWith(".safetensors"))).toHaveLength(3);
  });

  it("treats an unreadable entry as a miss and rewrites it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "a2v-captions-"));
    dirs.push(dir);
    const cache = new CaptionCache(dir);
    await writeFile(cache.path("m", "t"), "not a safetensors file");
    expect(await cache.get("m", "t")).toBeUndefined();
    await cache.getOrCompute("m", "t", async () => features(4));
    expect((await cache.get("m", "t"))?.video.shape).toEqual([6, 4]);
  });
});
