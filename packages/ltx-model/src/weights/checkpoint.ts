import { A2VError } from "@a2v/errors";
import type { HostTensor } from "@a2v/tensor-webgpu";
import type { LtxTransformerConfig } from "../config.js";
import { transformerConfigFromMetadata } from "../config.js";
import { type ParameterSpec, transformerParameters } from "../layout.js";
import { decodeToFloat32, encodeFloats, FLOAT_DTYPES, type SafetensorsDType } from "./dtypes.js";
import { SafetensorsFile, type TensorEntry } from "./safetensors.js";

/** Prefixes under which checkpoints store the DiT: ComfyUI single-file, ComfyUI LoRA/bare model, bare. */
export const TRANSFORMER_KEY_PREFIXES = ["model.diffusion_model.", "diffusion_model."] as const;

// Sub-trees of a unified checkpoint that belong to other components, not the DiT.
const OTHER_COMPONENT_PREFIXES = ["vae.", "audio_vae.", "vocoder.", "text_embedding_projection."];
const OTHER_COMPONENTS_INSIDE_DIT = ["video_embeddings_connector.", "audio_embeddings_connector."];

/**
 * Maps a checkpoint key to the DiT's upstream key, or null when the key belongs to another
 * component (VAEs, vocoder, text projection, text connectors).
 */
export function canonicalTransformerKey(fileKey: string): string | null {
  if (OTHER_COMPONENT_PREFIXES.some((p) => fileKey.startsWith(p))) return null;
  let key = fileKey;
  for (const prefix of TRANSFORMER_KEY_PREFIXES) {
    if (key.startsWith(prefix)) {
      key = key.slice(prefix.length);
      break;
    }
  }
  if (OTHER_COMPONENTS_INSIDE_DIT.some((p) => key.startsWith(p))) return null;
  return key;
}

/** Read access to named float tensors, whatever holds them (a file, memory, a test). */
export interface WeightSource {
  /** Shape of a parameter, or undefined when absent. */
  shape(key: string): number[] | undefined;
  /** The parameter as float32 (dequantised when stored as scaled FP8). */
  readFloat32(key: string): Promise<Float32Array>;
  /** The stored e4m3 codes and their scale when the parameter is stored as scaled FP8 (F8_E4M3), else undefined. */
  readFp8?(key: string): Promise<{ codes: Uint8Array; scale: number } | undefined>;
}

export interface LoadReport {
  /** Expected parameters the checkpoint lacks. */
  missing: string[];
  /** DiT-namespace keys the model has no parameter for (FP8 scale tensors excluded). */
  unexpected: string[];
  /** Expected parameters whose stored shape differs: `key: [file] vs [expected]`. */
  shapeMismatches: string[];
  /** Keys of other components (VAE, vocoder, connectors) that were skipped. */
  otherComponentKeys: number;
}

interface MappedTensor {
  entry: TensorEntry;
  /** FP8 checkpoints store a float32 scalar `<param>_scale` beside each quantised tensor. */
  scale?: TensorEntry;
}

/**
 * The DiT's weights inside a safetensors checkpoint, read lazily tensor by tensor.
 * Keys are upstream's (`transformer_blocks.0.attn1.to_q.weight`), whatever prefix the file uses.
 */
export class TransformerCheckpoint implements WeightSource {
  private constructor(
    readonly file: SafetensorsFile,
    readonly config: LtxTransformerConfig,
    private readonly tensors: Map<string, MappedTensor>,
    readonly report: LoadReport,
  ) {}

  /**
   * Opens a checkpoint; the config comes from `config` or else from the file's metadata.
   * With `strict` (default) a missing parameter or a shape mismatch throws, naming every key.
   */
  static async open(
    path: string,
    options: { config?: LtxTransformerConfig; strict?: boolean } = {},
  ): Promise<TransformerCheckpoint> {
    const file = await SafetensorsFile.open(path);
    try {
      const config = options.config ?? transformerConfigFromMetadata(file.metadata, path);
      const { tensors, report } = mapTensors(file, transformerParameters(config));
      if ((options.strict ?? true) && (report.missing.length > 0 || report.shapeMismatches.length > 0)) {
        const problems = [
          ...report.missing.map((key) => ({ code: "weight_missing", message: `missing ${key}`, file: path })),
          ...report.shapeMismatches.map((m) => ({ code: "weight_shape_mismatch", message: m, file: path })),
        ];
        throw new A2VError(
          "checkpoint_incompatible",
          `${path}: ${report.missing.length} missing and ${report.shapeMismatches.length} mis-shaped transformer weights (first: ${problems[0]!.message})`,
          { status: 422, details: problems },
        );
      }
      return new TransformerCheckpoint(file, config, tensors, report);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  shape(key: string): number[] | undefined {
    return this.tensors.get(key)?.entry.shape;
  }

  dtype(key: string): SafetensorsDType | undefined {
    return this.tensors.get(key)?.entry.dtype;
  }

  async readFloat32(key: string): Promise<Float32Array> {
    const mapped = this.lookup(key);
    const values = decodeToFloat32(await this.file.readBytes(mapped.entry.name), mapped.entry.dtype);
    if (mapped.scale) {
      const s = await this.readScale(mapped.scale);
      for (let i = 0; i < values.length; i++) values[i] = Math.fround(values[i]! * s);
    }
    return values;
  }

  async readFp8(key: string): Promise<{ codes: Uint8Array; scale: number } | undefined> {
    const mapped = this.lookup(key);
    if (mapped.entry.dtype !== "F8_E4M3") return undefined;
    const scale = mapped.scale ? await this.readScale(mapped.scale) : 1;
    return { codes: await this.file.readBytes(mapped.entry.name), scale };
  }

  private async readScale(entry: TensorEntry): Promise<number> {
    const scale = decodeToFloat32(await this.file.readBytes(entry.name), entry.dtype);
    if (scale.length !== 1)
      throw new A2VError("weight_scale_unsupported", `${this.file.path}: ${entry.name} is not a scalar`, {
        status: 422,
      });
    return scale[0]!;
  }

  /**
   * The parameter's bytes in `dtype` (F32 or BF16): stored bytes when they already match, so the
   * 22B model's bf16 weights go to the GPU without a float32 detour.
   */
  async readAs(key: string, dtype: "F32" | "BF16"): Promise<Uint8Array> {
    const mapped = this.lookup(key);
    if (mapped.entry.dtype === dtype && !mapped.scale) return this.file.readBytes(mapped.entry.name);
    return encodeFloats(await this.readFloat32(key), dtype);
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  private lookup(key: string): MappedTensor {
    const mapped = this.tensors.get(key);
    if (!mapped) {
      throw new A2VError("weight_missing", `${this.file.path}: no transformer weight ${key}`, {
        status: 422,
        details: [{ code: "weight_missing", message: key, file: this.file.path }],
      });
    }
    return mapped;
  }
}

/** Matches a file's tensors against the expected parameters and reports the differences. */
export function mapTensors(
  file: Pick<SafetensorsFile, "entries">,
  expected: ParameterSpec[],
): { tensors: Map<string, MappedTensor>; report: LoadReport } {
  const byKey = new Map<string, TensorEntry>();
  const scales = new Map<string, TensorEntry>();
  let otherComponentKeys = 0;
  for (const entry of file.entries()) {
    const key = canonicalTransformerKey(entry.name);
    if (key === null) {
      otherComponentKeys++;
      continue;
    }
    if ((key.endsWith(".weight_scale") || key.endsWith(".bias_scale")) && FLOAT_DTYPES.has(entry.dtype)) {
      scales.set(key.slice(0, -"_scale".length), entry);
      continue;
    }
    // Activation scales of pre-quantised fp8 matmuls (`input_scale`) carry no weight information.
    if (key.endsWith(".input_scale")) continue;
    byKey.set(key, entry);
  }
  const tensors = new Map<string, MappedTensor>();
  const missing: string[] = [];
  const shapeMismatches: string[] = [];
  const expectedKeys = new Set<string>();
  for (const spec of expected) {
    expectedKeys.add(spec.key);
    const entry = byKey.get(spec.key);
    if (!entry) {
      missing.push(spec.key);
      continue;
    }
    if (entry.shape.length !== spec.shape.length || entry.shape.some((d, i) => d !== spec.shape[i])) {
      shapeMismatches.push(`${spec.key}: [${entry.shape}] in file vs [${spec.shape}] expected`);
      continue;
    }
    const scale = scales.get(spec.key);
    tensors.set(spec.key, scale ? { entry, scale } : { entry });
  }
  const unexpected = [...byKey.keys()].filter((k) => !expectedKeys.has(k));
  return { tensors, report: { missing, unexpected, shapeMismatches, otherComponentKeys } };
}

/** Weights held in memory (tests, random initialisation, converted checkpoints). */
export class MemoryWeights implements WeightSource {
  constructor(private readonly tensors: Map<string, HostTensor>) {}

  shape(key: string): number[] | undefined {
    return this.tensors.get(key)?.shape;
  }

  async readFloat32(key: string): Promise<Float32Array> {
    const t = this.tensors.get(key);
    if (!t) throw new A2VError("weight_missing", `no weight ${key} in memory`, { status: 422 });
    return t.data;
  }
}
