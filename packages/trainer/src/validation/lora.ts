import { A2VError } from "@a2v/errors";
import {
  type ActiveLora,
  type LoadedLora,
  type LtxTransformer,
  type LtxTransformerConfig,
  transformerParameters,
} from "@a2v/ltx-model";

/**
 * Registers a LoRA file's tensors (`loadLoraFile`) as the backend's LoRA parameters and returns the `ActiveLora` that
 * applies them at the file's runtime scale (1 for files written by `saveLoraFile`, alpha/rank folded into B). Every
 * module must be a Linear layer of `config` with matching shapes (`lora_file_mismatch` otherwise).
 */
export function registerLora(backend: LtxTransformer, config: LtxTransformerConfig, loaded: LoadedLora): ActiveLora {
  const linears = new Map<string, number[]>();
  for (const p of transformerParameters(config))
    if (p.key.endsWith(".weight") && p.shape.length === 2) linears.set(p.key.slice(0, -".weight".length), p.shape);
  const modules = new Set<string>();
  for (const [key, t] of loaded.tensors) {
    const isA = key.endsWith(".lora_A.weight");
    const module = key.slice(0, -(isA ? ".lora_A.weight" : ".lora_B.weight").length);
    const shape = linears.get(module);
    const [rows, cols] = t.shape as [number, number];
    const expected = shape && (isA ? [loaded.rank, shape[1]!] : [shape[0]!, loaded.rank]);
    if (!expected || t.shape.length !== 2 || rows !== expected[0] || cols !== expected[1]) {
      const message = shape
        ? `${key} is [${t.shape}], the model needs [${expected}]`
        : `${key}: the model has no Linear layer ${module}`;
      throw new A2VError("lora_file_mismatch", `the LoRA does not fit this model: ${message}`, {
        status: 422,
        details: [{ code: "lora_file_mismatch", message }],
      });
    }
    modules.add(module);
  }
  for (const module of modules) {
    for (const suffix of [".lora_A.weight", ".lora_B.weight"]) {
      if (!loaded.tensors.has(module + suffix)) {
        throw new A2VError("lora_file_mismatch", `the LoRA has no ${module}${suffix}`, { status: 422 });
      }
    }
  }
  for (const [key, t] of loaded.tensors) backend.addParameter(key, t.data, t.shape[0]!, t.shape[1]!);
  return { modules, scale: loaded.runtimeScale };
}
