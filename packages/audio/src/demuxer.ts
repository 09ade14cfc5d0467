import { extname } from "node:path";

/**
 * The ffmpeg demuxer each media extension must be read with. ffmpeg picks a demuxer from the content,
 * so without a pin a 144-byte text named `clip.mp4` can be an HLS playlist or an ffconcat list that
 * reads other files on the machine. Every ffprobe/ffmpeg input in a2v goes through `pinnedInput`.
 */
export const DEMUXER_BY_EXTENSION: Readonly<Record<string, string>> = Object.freeze({
  mp4: "mov",
  mov: "mov",
  m4a: "mov",
  m4v: "mov",
  avi: "avi",
  mkv: "matroska",
  webm: "matroska",
  wav: "wav",
  mp3: "mp3",
  ogg: "ogg",
  aac: "aac",
  flac: "flac",
  png: "png_pipe",
  jpg: "jpeg_pipe",
  jpeg: "jpeg_pipe",
});

/** Demuxers an input of unknown extension may be read with: single-file containers, no playlists. */
export const SAFE_DEMUXERS: readonly string[] = Object.freeze([...new Set(Object.values(DEMUXER_BY_EXTENSION))]);

/** The demuxer pinned for `file`'s extension, or undefined for an extension a2v does not know. */
export function demuxerFor(file: string): string | undefined {
  return DEMUXER_BY_EXTENSION[extname(file).slice(1).toLowerCase()];
}

/**
 * ffmpeg/ffprobe arguments that open `file` as one local file of the format its extension names:
 * `-protocol_whitelist file` (no network, no nested protocols), `-f <demuxer>` for a known extension
 * (else `-format_whitelist` of the safe demuxers), and the path behind `file:` so that a name holding
 * `:` or `|` is never read as a protocol. Ends with `-i file:<path>`.
 */
export function pinnedInput(file: string): string[] {
  const demuxer = demuxerFor(file);
  const format = demuxer ? ["-f", demuxer] : ["-format_whitelist", SAFE_DEMUXERS.join(",")];
  return ["-protocol_whitelist", "file", ...format, "-i", `file:${file}`];
}

/**
 * Whether ffprobe's `format_name` (e.g. "mov,mp4,m4a,3gp,3g2,mj2") is the demuxer `file`'s extension
 * calls for. True for an unknown extension (nothing to compare with).
 */
export function formatMatchesExtension(file: string, formatName: string | undefined): boolean {
  const demuxer = demuxerFor(file);
  if (!demuxer) return true;
  const expected = demuxer.split(",")[0]!;
  return (formatName ?? "").split(",").includes(expected);
}
