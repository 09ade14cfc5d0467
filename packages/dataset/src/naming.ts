import { posix } from "node:path";

export type Role = "start" | "audio" | "target" | "caption";

export const IMAGE_EXTENSIONS = ["png", "jpg", "jpeg"] as const;
export const VIDEO_EXTENSIONS = ["mp4", "mov", "avi", "mkv"] as const;
export const AUDIO_EXTENSIONS = ["wav", "mp3", "ogg", "m4a", "aac", "flac"] as const;

const SUFFIX_ROLES: Record<string, { role: Role; extensions: readonly string[] }> = {
  start: { role: "start", extensions: [...IMAGE_EXTENSIONS, ...VIDEO_EXTENSIONS] },
  audio: { role: "audio", extensions: AUDIO_EXTENSIONS },
  end: { role: "target", extensions: VIDEO_EXTENSIONS },
};

export type Classification =
  | { kind: "member"; group: string; role: Role; extension: string }
  | { kind: "os_metadata" }
  | { kind: "unknown"; reason: string };

/**
 * What an archive path is in the dataset format. Base names are case-sensitive; the role suffix
 * (`_start`, `_audio`, `_end`) and the extension are not. Folders do not matter.
 */
export function classifyPath(path: string): Classification {
  const segments = path.split("/");
  const base = segments[segments.length - 1]!;
  if (segments.includes("__MACOSX") || base === ".DS_Store" || base.startsWith("._")) return { kind: "os_metadata" };
  const extension = posix.extname(base).slice(1).toLowerCase();
  const stem = base.slice(0, base.length - extension.length - (extension ? 1 : 0));
  if (extension === "txt") {
    return stem ? { kind: "member", group: stem, role: "caption", extension } : unknown("a caption needs a base name");
  }
  const match = /^(.+)_(start|audio|end)$/i.exec(stem);
  if (!match) return unknown("not a <name>_start, <name>_audio, <name>_end or <name>.txt file");
  const suffix = match[2]!.toLowerCase();
  const { role, extensions } = SUFFIX_ROLES[suffix]!;
  if (!extensions.includes(extension)) {
    return unknown(`.${extension || "(none)"} is not a supported _${suffix} extension (${extensions.join(", ")})`);
  }
  return { kind: "member", group: match[1]!, role, extension };
}

export function isImageExtension(extension: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extension);
}

function unknown(reason: string): Classification {
  return { kind: "unknown", reason };
}
