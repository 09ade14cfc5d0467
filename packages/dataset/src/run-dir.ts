import { readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";

/**
 * One temp folder per run: `<tmp>/a2v-run-<host>-<pid>-XXXXXX`. Everything a run writes to temp (the
 * download, extracted files, scratch) lives under it, so one removal cleans up, a signal handler knows
 * what to remove, and a later run can sweep folders whose process is gone (killed with SIGKILL, or a
 * machine that lost power).
 */
export const RUN_DIR_PREFIX = "a2v-run-";

const live = new Set<string>();

function hostTag(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9]/g, "_")
      .slice(0, 32) || "host"
  );
}

/** Creates a run folder under `parent` (default the OS temp dir) and registers it for signal cleanup. */
export async function createRunDir(parent: string = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, `${RUN_DIR_PREFIX}${hostTag()}-${process.pid}-`));
  live.add(dir);
  return dir;
}

/** Removes a run folder (and forgets it). */
export async function removeRunDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  live.delete(dir);
}

/** Registers another temp path (e.g. a half-written cache entry) for removal on SIGINT/SIGTERM. */
export function trackTemp(path: string): void {
  live.add(path);
}

/** Forgets a path registered with `trackTemp` (it was published or removed). */
export function untrackTemp(path: string): void {
  live.delete(path);
}

/** The run folders this process holds now. */
export function liveRunDirs(): string[] {
  return [...live];
}

/**
 * Removes run folders under `parent` left by processes of this host that no longer exist. Returns the
 * folders removed. Folders of live processes (this one included) and of other hosts are left alone.
 */
export async function sweepStaleRunDirs(parent: string = tmpdir()): Promise<string[]> {
  const prefix = `${RUN_DIR_PREFIX}${hostTag()}-`;
  const names = await readdir(parent).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
    removed.push(join(parent, name));
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Process ids whose parent is this process (ffmpeg/ffprobe children), from /proc. Empty where /proc
 * is not available.
 */
export function childProcessIds(parent: number = process.pid): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Zombies (ended, not yet reaped by Node) are not running.
      if (Number(ppid) === parent && state !== "Z") children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

export interface SignalCleanupOptions {
  /** Called last, with 130 (SIGINT) or 143 (SIGTERM). Default: process.exit. */
  exit?: (code: number) => void;
  /** Called before the exit with what was done (for a message on stderr). */
  onSignal?: (signal: NodeJS.Signals, report: { killed: number[]; removed: string[] }) => void;
  /** Where the signals are listened for. Default: process (tests pass their own emitter). */
  target?: Pick<NodeJS.EventEmitter, "on" | "off">;
}

/**
 * Traps SIGINT and SIGTERM for a CLI run: ends this process's children (ffmpeg, ffprobe) with SIGKILL,
 * removes every live run folder and `extraDirs()`, then exits with 128 + the signal number. Returns
 * the function that removes the handlers.
 */
export function installSignalCleanup(
  extraDirs: () => string[] = () => [],
  options: SignalCleanupOptions = {},
): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const handler = (signal: NodeJS.Signals) => {
    const killed: number[] = [];
    for (const pid of childProcessIds()) {
      try {
        process.kill(pid, "SIGKILL");
        killed.push(pid);
      } catch {
        // Already gone.
      }
    }
    const removed: string[] = [];
    for (const dir of [...extraDirs(), ...live]) {
      try {
        rmSync(dir, { recursive: true, force: true });
        live.delete(dir);
        removed.push(dir);
      } catch {
        // Best effort: a folder that cannot be removed now is swept by the next run.
      }
    }
    options.onSignal?.(signal, { killed, removed });
    exit(signal === "SIGINT" ? 130 : 143);
  };
  const target = options.target ?? process;
  target.on("SIGINT", handler);
  target.on("SIGTERM", handler);
  return () => {
    target.off("SIGINT", handler);
    target.off("SIGTERM", handler);
  };
}
