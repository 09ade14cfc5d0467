import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const runner = fileURLToPath(new URL("../bench-dist/bench/standalone.js", import.meta.url));

describe("standalone bench (what scripts/gpu-bench.sh runs on a lent GPU machine)", () => {
  it("runs every matmul task once under plain Node and prints the table", async () => {
    // Built by `pnpm build` (tsconfig.bench.json); A2V_BENCH_QUICK runs each task once, untimed warm-up skipped.
    const env = { ...process.env, A2V_BENCH_QUICK: "1", A2V_BENCH_SCALE: "1" };
    const { stdout } = await promisify(execFile)(process.execPath, [runner, "matmul"], { env, timeout: 300_000 });
    const rows = stdout.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| task"));
    // 9 shapes × (64×64 tiles, naive, tiled, auto), each with a finite rate.
    expect(rows).toHaveLength(36);
    for (const row of rows) expect(Number(row.split("|")[3])).toBeGreaterThan(0);
    expect(stdout).toMatch(/^auto = matmul: .+; attention: .+$/m);
  });
});
