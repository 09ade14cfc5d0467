import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { mediaTools } from "@a2v/audio";
import { isA2VError } from "@a2v/errors";
import { type GpuInfo, init, type KernelPaths, kernelPaths, releaseGpu } from "@a2v/tensor-webgpu";

export interface DoctorReport {
  ok: boolean;
  node: string;
  packages: Record<string, string>;
  gpu: GpuInfo | null;
  /** The matmul and attention kernels this adapter gets (after the runtime's self-tests). */
  kernels: KernelPaths | null;
  /** The buffer pool's bound on live plus cached GPU bytes (`A2V_GPU_MEMORY_GIB`); null: none. */
  gpuMemoryBudgetBytes: number | null;
  ffmpeg: { path: string; source: string; version: string } | null;
  ffprobe: { path: string; source: string; version: string } | null;
  /** One line per missing or degraded piece, saying what to do. */
  problems: string[];
}

const PACKAGES = ["@a2v/sdk", "@a2v/trainer", "@a2v/ltx-model", "@a2v/tensor-webgpu", "@a2v/dataset", "@a2v/audio"];

function packageVersion(name: string): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (let i = 0; i < 4; i++, dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? "unknown";
      } catch {}
    }
  } catch {}
  return "not installed";
}

function messageOf(error: unknown): string {
  return isA2VError(error) || error instanceof Error ? error.message : String(error);
}

/** Inspects this machine: WebGPU adapter, ffmpeg/ffprobe in use, Node and package versions. */
export async function doctor(): Promise<DoctorReport> {
  const problems: string[] = [];
  const [major] = process.versions.node.split(".").map(Number);
  if ((major ?? 0) < 20) problems.push(`Node ${process.versions.node} is too old: a2v needs Node >= 20.`);

  let gpu: GpuInfo | null = null;
  let kernels: KernelPaths | null = null;
  let gpuMemoryBudgetBytes: number | null = null;
  try {
    const runtime = await init();
    gpu = runtime.gpu.info;
    kernels = kernelPaths(runtime);
    const budget = runtime.pool.budgetBytes;
    gpuMemoryBudgetBytes = Number.isFinite(budget) ? budget : null;
    if (gpu.isSoftware)
      problems.push(
        "The WebGPU adapter is a CPU rasteriser (lavapipe): fine for tests and the tiny model, far too slow for 22B.",
      );
  } catch (error) {
    problems.push(messageOf(error));
  } finally {
    releaseGpu();
  }

  let tools: ReturnType<typeof mediaTools> | null = null;
  try {
    tools = mediaTools();
    if (tools.ffmpeg.source === "npm")
      problems.push("Using the npm static ffmpeg (2018 build); install a newer one: apt-get install ffmpeg.");
  } catch (error) {
    problems.push(messageOf(error));
  }

  const packages = Object.fromEntries(PACKAGES.map((name) => [name, packageVersion(name)]));
  const fatal = !gpu || !tools || (major ?? 0) < 20;
  return {
    ok: !fatal,
    node: process.versions.node,
    packages,
    gpu,
    kernels,
    gpuMemoryBudgetBytes,
    ffmpeg: tools?.ffmpeg ?? null,
    ffprobe: tools?.ffprobe ?? null,
    problems,
  };
}

/** Human-readable doctor output. */
export function formatDoctor(report: DoctorReport): string {
  const lines: string[] = [];
  const g = report.gpu;
  if (g) {
    lines.push(
      `GPU      ${g.description || g.device || g.vendor} (${g.vendor}${g.architecture ? `, ${g.architecture}` : ""})`,
    );
    lines.push(`backend  ${g.backend}${g.isSoftware ? " (software)" : ""}`);
    lines.push(
      `checks   ${g.checks === "off" ? "off (production: skip_validation, disable_robustness, no lazy clears)" : "on (validation, robustness, lazy clears)"}; ` +
        `toggles +${g.toggles.enabled.join(",")} -${g.toggles.disabled.join(",")}`,
    );
    lines.push(`features ${g.features.join(", ") || "none"}`);
    const mib = (n: number | undefined) => `${Math.round((n ?? 0) / 2 ** 20)} MiB`;
    lines.push(
      `limits   buffer ${mib(g.limits.maxBufferSize)}, storage binding ${mib(g.limits.maxStorageBufferBindingSize)}, ` +
        `workgroup storage ${g.limits.maxComputeWorkgroupStorageSize} B, invocations ${g.limits.maxComputeInvocationsPerWorkgroup}, ` +
        `storage buffers/stage ${g.limits.maxStorageBuffersPerShaderStage}`,
    );
    if (g.subgroupMinSize) lines.push(`subgroup ${g.subgroupMinSize}..${g.subgroupMaxSize}`);
    const budget = report.gpuMemoryBudgetBytes;
    lines.push(
      `memory   ${budget === null ? "no bound on the buffer pool (set A2V_GPU_MEMORY_GIB to bound it)" : `buffer pool bounded to ${(budget / 2 ** 30).toFixed(1)} GiB (A2V_GPU_MEMORY_GIB)`}`,
    );
    lines.push(
      `matrix   ${g.subgroupMatrixConfigs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(", ") || "no subgroup-matrix configs"}`,
    );
  } else lines.push("GPU      none");
  if (report.kernels) {
    lines.push(`matmul   ${report.kernels.matmul}`);
    lines.push(`attention ${report.kernels.attention}`);
  }
  for (const [label, tool] of [
    ["ffmpeg", report.ffmpeg],
    ["ffprobe", report.ffprobe],
  ] as const) {
    const version = tool?.version.replace(/\s+Copyright.*$/, "");
    lines.push(`${label.padEnd(8)} ${tool ? `${version} [${tool.source}: ${tool.path}]` : "missing"}`);
  }
  lines.push(`node     ${report.node}`);
  for (const [name, version] of Object.entries(report.packages)) lines.push(`${name.padEnd(19)} ${version}`);
  if (report.problems.length) lines.push("", ...report.problems.map((p) => `! ${p}`));
  lines.push("", report.ok ? "ready" : "NOT READY: fix the problems above");
  return lines.join("\n");
}
