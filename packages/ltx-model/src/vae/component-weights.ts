import { A2VError } from "@a2v/errors";
import { type HostTensor, hostTensor } from "@a2v/tensor-webgpu";
import type { WeightSource } from "../weights/checkpoint.js";
import { SafetensorsFile } from "../weights/safetensors.js";

/** A parameter a component expects, under its upstream module key. */
export interface ParamSpec {
  key: string;
  /** Expected shape; undefined when the checkpoint decides it (e.g. the number of registers). */
  shape?: number[];
}

/** How a checkpoint names a module key (e.g. `conv_in.conv.weight` -> `vae.encoder.conv_in.conv.weight`). */
export type KeyLayout = (moduleKey: string) => string;

/** A component's parameters by upstream module key, as float32. */
export type ComponentWeights = Map<string, HostTensor>;

/** Maps keys starting with one of `prefixes` (first match wins) to a new prefix; "" matches everything. */
export function prefixLayout(rules: [from: string, to: string][]): KeyLayout {
  return (key) => {
    for (const [from, to] of rules) if (key.startsWith(from)) return to + key.slice(from.length);
    return key;
  };
}

function componentError(code: string, component: string, file: string, message: string, keys: string[]): A2VError {
  const shown = keys.slice(0, 12).join(", ") + (keys.length > 12 ? `, … (${keys.length} in all)` : "");
  return new A2VError(code, `${file}: ${component}: ${message}: ${shown}`, {
    status: 422,
    details: keys.map((key) => ({ code, message: `${message}: ${key}`, file })),
  });
}

/**
 * Checks a component's parameters against a checkpoint without reading them, trying each key layout
 * (bare module keys, released checkpoint prefixes) and keeping the one that matches the most keys.
 * Returns the layout to read with. A checkpoint without the component, or with some of its keys
 * missing or misshapen, fails naming the file and the keys.
 */
export function resolveComponentKeys(
  source: WeightSource,
  file: string,
  component: string,
  params: ParamSpec[],
  layouts: KeyLayout[],
): KeyLayout {
  // Ties (e.g. no key found at all) go to the last layout: the released checkpoint's names.
  let best = layouts[0]!;
  let bestCount = -1;
  for (const layout of layouts) {
    const count = params.filter((p) => source.shape(layout(p.key)) !== undefined).length;
    if (count >= bestCount) [best, bestCount] = [layout, count];
  }
  const missing = params.filter((p) => source.shape(best(p.key)) === undefined).map((p) => best(p.key));
  if (bestCount === 0) {
    throw componentError(
      "checkpoint_component_missing",
      component,
      file,
      "the checkpoint has none of its keys",
      missing,
    );
  }
  if (missing.length > 0) {
    throw componentError("checkpoint_keys_missing", component, file, "missing keys", missing);
  }
  const misshapen = params
    .filter((p) => p.shape !== undefined && String(source.shape(best(p.key))) !== String(p.shape))
    .map((p) => `${best(p.key)} is [${source.shape(best(p.key))}], expected [${p.shape}]`);
  if (misshapen.length > 0) {
    throw componentError("checkpoint_shape_mismatch", component, file, "unexpected shapes", misshapen);
  }
  return best;
}

/** `resolveComponentKeys`, then every parameter read as float32 into host memory. */
export async function loadComponentWeights(
  source: WeightSource,
  file: string,
  component: string,
  params: ParamSpec[],
  layouts: KeyLayout[],
): Promise<ComponentWeights> {
  const layout = resolveComponentKeys(source, file, component, params, layouts);
  const weights: ComponentWeights = new Map();
  for (const p of params) {
    const shape = p.shape ?? source.shape(layout(p.key))!;
    weights.set(p.key, hostTensor([...shape], await source.readFloat32(layout(p.key))));
  }
  return weights;
}

/** A parameter that must be present (the loaders guarantee it; a miss is a programming error). */
export function param(weights: ComponentWeights, key: string): HostTensor {
  const t = weights.get(key);
  if (!t) throw new A2VError("weights_key_missing", `weight ${key} was not loaded`);
  return t;
}

/** A safetensors file as a `WeightSource` (lazy: only the header is read until a tensor is asked for). */
export async function openWeightFile(path: string): Promise<WeightSource & { close(): Promise<void> }> {
  const file = await SafetensorsFile.open(path);
  return {
    shape: (key) => (file.has(key) ? [...file.entry(key).shape] : undefined),
    readFloat32: (key) => file.readFloat32(key),
    close: () => file.close(),
  };
}

/** Every tensor of a (small) safetensors file, as float32 host tensors. */
export async function readTensorFile(path: string): Promise<Map<string, HostTensor>> {
  const file = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, HostTensor>();
    for (const key of file.keys()) out.set(key, hostTensor([...file.entry(key).shape], await file.readFloat32(key)));
    return out;
  } finally {
    await file.close();
  }
}
