import { A2VError } from "@a2v/errors";
import type { HostTensor } from "@a2v/tensor-webgpu";
import { type LoraConfig, loraScale } from "./lora.js";
import { encodeFloats } from "./weights/dtypes.js";
import { SafetensorsFile, type TensorToWrite, writeSafetensors } from "./weights/safetensors.js";

/** ComfyUI's generic prefix, which the official trainer writes and the official pipelines strip. */
export const LORA_KEY_PREFIX = "diffusion_model.";

export type LoraTensors = Map<string, HostTensor>;

export interface SaveLoraOptions {
  /** Stored element type; the official trainer saves bf16 by default. */
  dtype?: "BF16" | "F32";
  /** Extra string metadata (e.g. training step). */
  metadata?: Record<string, string>;
}

/**
 * Writes LoRA weights in the official trainer's file format: keys
 * `diffusion_model.<module>.lora_A.weight` `[r, in]` and `.lora_B.weight` `[out, r]`, no `.alpha`
 * keys, with alpha/rank FOLDED into lora_B. The official pipelines apply a LoRA at scale 1 and
 * ComfyUI applies 1 when `.alpha` is absent, so folding makes every loader apply the trained scale.
 * `tensors` are in training convention (unscaled B, keys without prefix).
 */
export async function saveLoraFile(
  path: string,
  tensors: LoraTensors,
  lora: LoraConfig,
  options: SaveLoraOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? "BF16";
  const scale = loraScale(lora);
  const out: TensorToWrite[] = [];
  for (const [key, t] of tensors) {
    if (!key.endsWith(".lora_A.weight") && !key.endsWith(".lora_B.weight")) {
      throw new A2VError("lora_key_invalid", `LoRA tensor ${key} is neither lora_A nor lora_B`);
    }
    const values = key.endsWith(".lora_B.weight") ? t.data.map((v) => v * scale) : t.data;
    out.push({ name: LORA_KEY_PREFIX + key, dtype, shape: t.shape, data: encodeFloats(values, dtype) });
  }
  await writeSafetensors(path, out, {
    ...options.metadata,
    lora_rank: String(lora.rank),
    lora_alpha: String(lora.alpha),
    lora_scale_folded: "true",
    target_modules: JSON.stringify(lora.targetModules),
  });
}

export interface LoadedLora {
  rank: number;
  /** Alpha from metadata (= rank when absent, as the official loaders assume scale 1). */
  alpha: number;
  /** Whether lora_B already includes alpha/rank (files written by `saveLoraFile`). */
  folded: boolean;
  /** Scale to apply at inference: 1 for folded or alpha-less files, alpha/rank otherwise. */
  runtimeScale: number;
  /** Tensors as stored, keys without the `diffusion_model.` / `model.diffusion_model.` prefix. */
  tensors: LoraTensors;
}

/** Reads a LoRA file (official/ComfyUI key format, any float dtype). */
export async function loadLoraFile(path: string): Promise<LoadedLora> {
  const file = await SafetensorsFile.open(path);
  try {
    const tensors: LoraTensors = new Map();
    let rank: number | undefined;
    for (const entry of file.entries()) {
      let key = entry.name;
      for (const prefix of ["model.diffusion_model.", LORA_KEY_PREFIX])
        if (key.startsWith(prefix)) key = key.slice(prefix.length);
      if (key.endsWith(".alpha")) continue;
      if (!key.endsWith(".lora_A.weight") && !key.endsWith(".lora_B.weight")) {
        throw new A2VError("lora_file_invalid", `${path}: ${entry.name} is not a LoRA tensor (lora_A/lora_B)`, {
          status: 422,
          details: [{ code: "lora_file_invalid", message: entry.name, file: path }],
        });
      }
      if (key.endsWith(".lora_A.weight")) rank ??= entry.shape[0];
      tensors.set(key, { shape: entry.shape, data: await file.readFloat32(entry.name) });
    }
    if (rank === undefined) throw new A2VError("lora_file_invalid", `${path}: no lora_A tensors`, { status: 422 });
    const meta = file.metadata;
    const alpha = meta.lora_alpha !== undefined ? Number(meta.lora_alpha) : rank;
    const folded = meta.lora_scale_folded === "true";
    const hasAlpha = meta.lora_alpha !== undefined;
    return { rank, alpha, folded, runtimeScale: folded || !hasAlpha ? 1 : alpha / rank, tensors };
  } finally {
    await file.close();
  }
}

/** Converts a loaded file to training convention for `lora` (unfolds B), e.g. to resume training. */
export function loraTrainingState(loaded: LoadedLora, lora: LoraConfig): LoraTensors {
  const factor = loaded.runtimeScale / loraScale(lora);
  const out: LoraTensors = new Map();
  for (const [key, t] of loaded.tensors) {
    out.set(key, { shape: t.shape, data: key.endsWith(".lora_B.weight") ? t.data.map((v) => v * factor) : t.data });
  }
  return out;
}
