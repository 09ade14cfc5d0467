/** Captions larger than this are refused rather than read into memory. */
export const MAX_CAPTION_BYTES = 64 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Decodes a caption file: strict UTF-8, byte-order mark stripped, whitespace trimmed. Throws on bad UTF-8. */
export function decodeCaption(bytes: Uint8Array): string {
  // With ignoreBOM false the decoder drops a leading BOM itself.
  return utf8.decode(bytes).trim();
}

/**
 * The caption used for training: `"<trigger> " + caption` as the official trainer builds it,
 * unless the caption already contains the trigger phrase (case-insensitive, as whole words),
 * and the trigger phrase alone when there is no caption.
 */
export function applyTriggerPhrase(caption: string, triggerPhrase: string): string {
  const trigger = triggerPhrase.trim();
  if (!trigger) return caption;
  if (!caption) return trigger;
  const escaped = trigger.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const present = new RegExp(`(^|[^\\p{L}\\p{N}_])${escaped}($|[^\\p{L}\\p{N}_])`, "iu").test(caption);
  return present ? caption : `${trigger} ${caption}`;
}
