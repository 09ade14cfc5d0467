import { type ComponentWeights, loadComponentWeights } from "../vae/component-weights.js";
import type { WeightSource } from "../weights/checkpoint.js";
import type { TextConnectorsConfig } from "./config.js";
import { EMBEDDINGS_PROCESSOR_KEY_LAYOUTS, embeddingsProcessorParameters } from "./layout.js";

/** Loads the feature extractor and both connectors (module keys or released keys); `file` names the checkpoint in errors. */
export async function loadEmbeddingsProcessor(
  source: WeightSource,
  config: TextConnectorsConfig,
  file: string,
): Promise<ComponentWeights> {
  return loadComponentWeights(
    source,
    file,
    "text embeddings processor",
    embeddingsProcessorParameters(config),
    EMBEDDINGS_PROCESSOR_KEY_LAYOUTS,
  );
}
