import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Runs `fn` with os.tmpdir() pointed at a fresh folder and returns whatever was left in it
 * afterwards (it must be nothing: every exit path removes its temp files).
 */
export async function leftoversAfter(fn: () => Promise<unknown>): Promise<string[]> {
  const sandbox = await mkdtemp(join(tmpdir(), "a2v-dataset-sandbox-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = sandbox;
  try {
    await fn().catch(() => undefined);
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
  const left = await readdir(sandbox);
  await rm(sandbox, { recursive: true, force: true });
  return left;
}
