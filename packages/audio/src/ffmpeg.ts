import { execFileSync, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { A2VError } from "@a2v/errors";

/** Where a media tool binary came from: the system PATH, an env override, or an npm package. */
export type ToolSource = "env" | "system" | "npm";

export interface MediaTool {
  path: string;
  source: ToolSource;
  /** First line of `-version`, e.g. "ffmpeg version 5.1.8-0+deb12u1". */
  version: string;
}

export interface MediaTools {
  ffmpeg: MediaTool;
  ffprobe: MediaTool;
}

const require = createRequire(import.meta.url);

function versionOf(path: string): string | undefined {
  try {
    const out = execFileSync(path, ["-hide_banner", "-version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return out.split("\n")[0]?.trim();
  } catch {
    return undefined;
  }
}

function npmBinary(pkg: string): string | undefined {
  try {
    return (require(pkg) as { path: string }).path;
  } catch {
    return undefined;
  }
}

function locate(name: "ffmpeg" | "ffprobe", envVar: string, npmPackage: string): MediaTool {
  const candidates: [string | undefined, ToolSource][] = [
    [process.env[envVar], "env"],
    [name, "system"],
    [npmBinary(npmPackage), "npm"],
  ];
  for (const [path, source] of candidates) {
    if (!path) continue;
    const version = versionOf(path);
    if (version) return { path, source, version };
  }
  throw new A2VError(
    "ffmpeg_missing",
    `${name} was not found: set ${envVar}, install it (apt-get install ffmpeg), or run 'pnpm install' so ${npmPackage} provides it.`,
  );
}

let cached: MediaTools | undefined;

/**
 * Finds ffmpeg and ffprobe once per process. Order: $A2V_FFMPEG / $A2V_FFPROBE, the system PATH
 * (Debian's build is newer and has more codecs), then the static binaries shipped in
 * @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe.
 */
export function mediaTools(): MediaTools {
  cached ??= {
    ffmpeg: locate("ffmpeg", "A2V_FFMPEG", "@ffmpeg-installer/ffmpeg"),
    ffprobe: locate("ffprobe", "A2V_FFPROBE", "@ffprobe-installer/ffprobe"),
  };
  return cached;
}

/**
 * ffmpeg exited non-zero (or could not start); `reason` is the tail of what it printed. An `A2VError`
 * (`ffmpeg_failed`, 500) so that one escaping a caller still has a code; callers wrap it to name their file and rule.
 */
export class FfmpegFailure extends A2VError {
  constructor(
    readonly reason: string,
    readonly exitCode: number | null,
  ) {
    super("ffmpeg_failed", reason, { status: 500 });
    this.name = "FfmpegFailure";
  }
}

/**
 * Runs ffmpeg to completion, feeding `stdin` when given (the process sees EOF after it). Resolves on exit 0;
 * rejects with an `FfmpegFailure` carrying the last lines ffmpeg printed, for the caller to name its file and rule.
 */
export function runFfmpeg(args: readonly string[], stdin?: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(mediaTools().ffmpeg.path, ["-hide_banner", "-loglevel", "error", "-y", ...args], {
      stdio: [stdin ? "pipe" : "ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-4000);
    });
    child.on("error", (error) => reject(new FfmpegFailure(error.message, null)));
    child.on("close", (code) => {
      if (code === 0) return resolve();
      const reason = stderr.trim().split("\n").slice(-2).join(" | ") || `ffmpeg exited with code ${code}`;
      reject(new FfmpegFailure(reason, code));
    });
    if (stdin && child.stdin) {
      // If ffmpeg exits early (bad arguments) the write fails with EPIPE; the exit code and stderr say why.
      child.stdin.on("error", () => {});
      child.stdin.end(stdin);
    }
  });
}
