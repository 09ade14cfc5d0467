import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { LtxTransformerConfig } from "@a2v/ltx-model";
import { SafetensorsFile } from "@a2v/ltx-model/weights";
import { type A2VPreparedStep, prepareA2VStep } from "../../src/strategy.js";

/** The shared golden transformer set at `../shared/golden/transformer_a2v` from the repository root. */
export const TRANSFORMER_GOLDEN = resolve(import.meta.dirname, "../../../../../shared/golden/transformer_a2v");
export const hasGolden = existsSync(join(TRANSFORMER_GOLDEN, "config.json"));

export async function readGoldenConfig(dir = TRANSFORMER_GOLDEN): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

export async function readAll(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const file = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const e of file.entries()) out.set(e.name, { shape: e.shape, data: await file.readFloat32(e.name) });
    return out;
  } finally {
    await file.close();
  }
}

/** Max |a−b| / (1+|b|): the golden README's forward tolerance is this ≤ 1e-4. */
export function maxScaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new RangeError(`length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Number.POSITIVE_INFINITY : e;
  }
  return worst;
}

/** ‖a−b‖ / ‖b‖: the gradient tolerance is this ≤ 1e-3. */
export function relativeL2Error(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new RangeError(`length ${actual.length} vs ${expected.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** The golden set's one training step, built from its stored tokens, noise, sigma and contexts. */
export function goldenStep(
  config: LtxTransformerConfig,
  golden: Record<string, unknown>,
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
): A2VPreparedStep {
  const get = (name: string) => tensors.get(name)!.data;
  const [, , frames, height, width] = golden.video_latent_shape as number[];
  return prepareA2VStep(config, {
    videoClean: get("video_tokens"),
    noise: get("noise"),
    sigma: get("sigma")[0]!,
    grid: { frames: frames!, height: height!, width: width! },
    fps: golden.fps as number,
    audioClean: get("audio_tokens"),
    videoContext: get("video_context"),
    audioContext: get("audio_context"),
  });
}
