import { kernelPaths, rt } from "../src/index.js";
import { sgmatPlan } from "../src/ops/matmul-sgmat.js";

/** Peak dense throughput (TFLOP/s) of adapters we know, by a substring of the adapter description. */
const PEAKS: Array<[RegExp, { f32: number; f16: number }]> = [
  [/H100/i, { f32: 66.9, f16: 989.4 }],
  [/H200/i, { f32: 66.9, f16: 989.4 }],
];

interface Row {
  name: string;
  flops: number;
  ms: number[];
  baseline?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Collects GPU times per task and prints them as one table (vitest benches and the standalone runner). */
export class Recorder {
  private readonly rows = new Map<string, Row>();

  /** Wraps a benchmark body so its GPU time (record to completion) is recorded for the table. */
  timed(name: string, flops: number, run: () => void, baseline?: string): () => Promise<void> {
    const row: Row = { name, flops, ms: [], ...(baseline ? { baseline } : {}) };
    this.rows.set(name, row);
    return async () => {
      const t = performance.now();
      run();
      await rt().idle();
      row.ms.push(performance.now() - t);
    };
  }

  /** GFLOP/s per task, the ratio to its baseline and the fraction of the adapter's peak, as a markdown table. */
  table(title: string): string {
    const info = rt().gpu.info;
    const peak = PEAKS.find(([re]) => re.test(`${info.device} ${info.description}`))?.[1];
    const paths = kernelPaths(rt());
    const lines = [
      `\n${title} on ${info.description || info.device}`,
      `auto = matmul: ${paths.matmul}; attention: ${paths.attention}`,
    ];
    // "auto" matmul rows on a subgroup-matrix plan with f16 tiles count against the f16 (tensor core) peak.
    const f16Auto = sgmatPlan(rt())?.component === "f16";
    lines.push("| task | median ms | GFLOP/s | vs baseline | of peak |", "|---|---|---|---|---|");
    for (const row of this.rows.values()) {
      if (row.ms.length === 0) continue; // a task that could not run (the standalone runner lists it)
      const ms = median(row.ms);
      const gflops = row.flops / ms / 1e6;
      const base = row.baseline ? this.rows.get(row.baseline) : undefined;
      const ratio = base ? `${(row.flops / ms / (base.flops / median(base.ms)) || 0).toFixed(2)}x` : "";
      const kind = f16Auto && title === "matmul" && row.name.endsWith(" auto") ? "f16" : "f32";
      const frac = peak ? `${((gflops / 1000 / peak[kind]) * 100).toFixed(1)}% ${kind}` : "n/a";
      lines.push(`| ${row.name} | ${ms.toFixed(1)} | ${gflops.toFixed(2)} | ${ratio} | ${frac} |`);
    }
    return lines.join("\n");
  }
}
