/**
 * `@a2v/ltx-model/weights`: reading and writing weight files — safetensors (lazy, memory-mapped reads and
 * writes), the single-file transformer checkpoint with upstream key names, per-component weight loading, and
 * the safetensors dtypes.
 */

export {
  type ComponentWeights,
  type KeyLayout,
  loadComponentWeights,
  openWeightFile,
  type ParamSpec,
  prefixLayout,
  readTensorFile,
  resolveComponentKeys,
} from "../vae/component-weights.js";
export {
  canonicalTransformerKey,
  type LoadReport,
  MemoryWeights,
  mapTensors,
  TRANSFORMER_KEY_PREFIXES,
  TransformerCheckpoint,
  type WeightSource,
} from "./checkpoint.js";
export { DTYPE_BYTES, decodeToFloat32, encodeFloats, type SafetensorsDType } from "./dtypes.js";
export {
  encodeSafetensors,
  parseSafetensorsHeader,
  SafetensorsFile,
  type SafetensorsHeader,
  type TensorEntry,
  type TensorToWrite,
  writeSafetensors,
} from "./safetensors.js";
