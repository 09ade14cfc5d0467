import { A2VError } from "@a2v/errors";
import type { HostTensor } from "@a2v/tensor-webgpu";
import type { LtxTransformerConfig } from "./config.js";
import { transformerParameters } from "./layout.js";

/** LoRA hyper-parameters, as upstream's `LoraConfig` (PEFT) takes them. */
export interface LoraConfig {
  rank: number;
  alpha: number;
  /** Module-name suffixes (PEFT matching: equal, or ends with "." + target). */
  targetModules: string[];
}

/** Upstream's default (and the official a2v config's) targets: every attention's q/k/v/out. */
export const DEFAULT_LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"];

/** The official a2v config: rank 32, alpha 32. */
export const DEFAULT_LORA: LoraConfig = { rank: 32, alpha: 32, targetModules: DEFAULT_LORA_TARGETS };

/** One adapted Linear: W' = W + (alpha/rank)·B·A, A `[rank, in]`, B `[out, rank]`. */
export interface LoraTarget {
  /** Upstream module name, e.g. `transformer_blocks.0.attn1.to_q`. */
  module: string;
  inDim: number;
  outDim: number;
}

export function matchesTarget(module: string, targets: readonly string[]): boolean {
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/** The Linear layers of the DiT that `lora.targetModules` selects, in layout order. */
export function loraTargets(config: LtxTransformerConfig, lora: LoraConfig): LoraTarget[] {
  if (!Number.isInteger(lora.rank) || lora.rank <= 0) {
    throw new A2VError("lora_config_invalid", `LoRA rank must be a positive integer, got ${lora.rank}`, {
      status: 422,
    });
  }
  const out: LoraTarget[] = [];
  for (const spec of transformerParameters(config)) {
    // Linear layers are exactly the 2-D `.weight` parameters (norm weights are 1-D, tables lack `.weight`).
    if (!spec.key.endsWith(".weight") || spec.shape.length !== 2) continue;
    const module = spec.key.slice(0, -".weight".length);
    if (matchesTarget(module, lora.targetModules)) out.push({ module, inDim: spec.shape[1]!, outDim: spec.shape[0]! });
  }
  if (out.length === 0) {
    throw new A2VError(
      "lora_no_targets",
      `LoRA target_modules ${JSON.stringify(lora.targetModules)} match no Linear layer of the model`,
      {
        status: 422,
      },
    );
  }
  return out;
}

export function loraScale(lora: LoraConfig): number {
  return lora.alpha / lora.rank;
}

export function loraKeyA(module: string): string {
  return `${module}.lora_A.weight`;
}
export function loraKeyB(module: string): string {
  return `${module}.lora_B.weight`;
}

/** Number of trainable values. */
export function loraParameterCount(targets: readonly LoraTarget[], rank: number): number {
  return targets.reduce((n, t) => n + rank * (t.inDim + t.outDim), 0);
}

/**
 * Upstream (PEFT `init_lora_weights=True`) initialisation: A Kaiming-uniform with a = √5, i.e.
 * U(−1/√in, 1/√in); B zero, so training starts from the base model exactly.
 */
export function initLoraWeights(
  targets: readonly LoraTarget[],
  rank: number,
  random: () => number,
): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const t of targets) {
    const bound = 1 / Math.sqrt(t.inDim);
    const a = new Float32Array(rank * t.inDim);
    for (let i = 0; i < a.length; i++) a[i] = (2 * random() - 1) * bound;
    out.set(loraKeyA(t.module), { shape: [rank, t.inDim], data: a });
    out.set(loraKeyB(t.module), { shape: [t.outDim, rank], data: new Float32Array(t.outDim * rank) });
  }
  return out;
}
