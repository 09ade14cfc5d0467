import { hostTensor } from "@a2v/tensor-webgpu";
import type { CaptionCache, CaptionFeatures } from "./caption-cache.js";
import type { Gemma } from "./gemma/gemma.js";
import type { GemmaPromptTokenizer } from "./gemma/tokenizer.js";
import type { TextPath } from "./text-path.js";

export interface CaptionEncoder {
  tokenizer: GemmaPromptTokenizer;
  gemma: Gemma;
  textPath: TextPath;
  cache: CaptionCache;
  /** Identifies Gemma + feature extractor + max length in the cache key, e.g. file names and sizes. */
  modelId: string;
}

/**
 * What the trainer's caption preprocessing produces for one caption: Gemma hidden states (left-padded
 * to the tokenizer's max length) through feature extractor V2, cached per (model, text).
 */
export function encodeCaption(text: string, encoder: CaptionEncoder): Promise<CaptionFeatures> {
  const { tokenizer, gemma, textPath, cache, modelId } = encoder;
  return cache.getOrCompute(`${modelId}|max${tokenizer.maxLength}`, text, async () => {
    const { ids, mask, maxLength } = tokenizer.encode([text]);
    const states = await gemma.hiddenStates(ids, mask, 1);
    const maskTensor = hostTensor([1, maxLength], mask);
    const { video, audio } = await textPath.extractFeatures(states, maskTensor);
    return {
      video: hostTensor(video.shape.slice(1), video.data),
      audio: hostTensor(audio.shape.slice(1), audio.data),
      mask: hostTensor([maxLength], mask),
    };
  });
}
