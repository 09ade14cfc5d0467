/**
 * The matmul and attention benchmarks without vitest, for a machine that has only Node (a lent GPU
 * machine): `node bench-dist/bench/standalone.js [matmul] [attention] [quantized] [conv]`, compiled by `pnpm build`.
 * Environment as for `pnpm bench`: A2V_BENCH_SCALE, A2V_BENCH_HEADS; A2V_BENCH_QUICK=1 runs each task once
 * (a smoke test). Prints the same tables as `pnpm bench`.
 */
import { init, releaseGpu, rt } from "../src/index.js";
import { attentionCases, type BenchCase, convCases, matmulCases, quantizedCases } from "./cases.js";
import { Recorder } from "./report.js";

const scale = Number(process.env.A2V_BENCH_SCALE ?? 1);
const heads = Number(process.env.A2V_BENCH_HEADS ?? 2);
const quick = process.env.A2V_BENCH_QUICK === "1";
const wanted = process.argv.slice(2);
const groups: Array<[string, () => BenchCase[]]> = [
  ["matmul", () => matmulCases(scale)],
  ["attention", () => attentionCases(scale, heads)],
  ["quantized", () => quantizedCases(scale)],
  ["conv", () => convCases(Number(process.env.A2V_BENCH_FRAMES ?? 3), process.env.A2V_BENCH_TILED === "1")],
];

await init();
for (const [title, cases] of groups) {
  if (wanted.length && !wanted.includes(title)) continue;
  const recorder = new Recorder();
  const skipped: string[] = [];
  for (const c of cases()) {
    const timed = recorder.timed(c.name, c.flops, c.run, c.baseline);
    try {
      if (!quick) {
        for (let i = 0; i < c.warmup; i++) c.run();
        await rt().idle();
      }
      for (let i = 0; i < (quick ? 1 : c.iterations); i++) await timed();
      process.stderr.write(`${c.name} done\n`);
    } catch (error) {
      // One task too big for this adapter (e.g. materialized scores above maxBufferSize) must not end the run.
      await rt()
        .sync()
        .catch(() => undefined);
      skipped.push(`${c.name}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
    }
  }
  console.log(recorder.table(title));
  if (skipped.length) console.log(["", "Skipped:", ...skipped.map((line) => `- ${line}`)].join("\n"));
}
releaseGpu();
