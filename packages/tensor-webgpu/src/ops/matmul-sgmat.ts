import { u32lit } from "../codegen.js";
import type { SubgroupMatrixConfig } from "../device.js";
import type { Runtime } from "../runtime.js";
import { epilogue, type Operands, prelude } from "./gemm-codegen.js";

/** A tensor-core GEMM shape: one subgroup-matrix config plus the workgroup layout built on it. */
export interface SgmatPlan {
  config: SubgroupMatrixConfig;
  /** Component type the A/B tiles are staged in (f16 or f32). */
  component: "f16" | "f32";
  subgroupSize: number;
  /** Workgroup tile (2×2 subgroups, each 2×2 result matrices). */
  bm: number;
  bn: number;
  bk: number;
}

/** The plan each runtime's self-test settled on (absent: the SIMT kernels). */
const plans = new WeakMap<Runtime, SgmatPlan>();

/** Tensor-core GEMM plan of `runtime` when the adapter has subgroup matrices and the self-test passed. */
export function sgmatPlan(runtime: Runtime): SgmatPlan | undefined {
  return plans.get(runtime);
}

/** Sets (or, with undefined, clears) the plan matmul uses on `runtime` (the self-test in init.ts). */
export function useSgmatPlan(runtime: Runtime, plan: SgmatPlan | undefined): void {
  if (plan) plans.set(runtime, plan);
  else plans.delete(runtime);
}

/**
 * Picks a subgroup-matrix config with f32 accumulation (f16 inputs preferred, then f32), or none.
 * Requires `chromium-experimental-subgroup-matrix` (Dawn with allow_unsafe_apis) and `subgroups`.
 */
export function planSubgroupMatrix(runtime: Runtime): SgmatPlan | undefined {
  const { gpu } = runtime;
  if (!gpu.has("chromium-experimental-subgroup-matrix") || !gpu.has("subgroups")) return undefined;
  const size = gpu.info.subgroupMaxSize;
  if (!size) return undefined;
  const configs = gpu.info.subgroupMatrixConfigs.filter((c) => c.resultComponentType === "f32");
  const pick =
    (gpu.has("shader-f16") ? configs.find((c) => c.componentType === "f16") : undefined) ??
    configs.find((c) => c.componentType === "f32");
  if (!pick) return undefined;
  const component = pick.componentType as "f16" | "f32";
  return { config: pick, component, subgroupSize: size, bm: 4 * pick.M, bn: 4 * pick.N, bk: 2 * pick.K };
}

/**
 * GEMM on subgroup matrices (tensor cores on NVIDIA): A and B tiles are staged in workgroup memory
 * converted to the config's component type, four subgroups each accumulate a 2×2 block of f32 result
 * matrices, which go through workgroup memory to the same epilogue as the SIMT kernel.
 */
export function sgmatWgsl(ops: Operands, plan: SgmatPlan): string {
  const { a, b, m, n, k } = ops;
  const { M, N, K } = plan.config;
  const T = plan.component;
  const threads = 4 * plan.subgroupSize;
  const { bm, bn, bk } = plan;
  const [sam, sak] = [a.strides[a.rank - 2]!, a.strides[a.rank - 1]!];
  const [sbk, sbn] = [b.strides[b.rank - 2]!, b.strides[b.rank - 1]!];
  const { decls, bases } = prelude(ops);
  const accs = [0, 1].flatMap((i) => [0, 1].map((j) => [i, j] as const));
  const left = `subgroup_matrix_left<${T}, ${K}, ${M}>`;
  const right = `subgroup_matrix_right<${T}, ${N}, ${K}>`;
  const result = `subgroup_matrix_result<f32, ${N}, ${M}>`;
  // Directives must precede every declaration, including `enable f16` that prelude() may emit.
  const body = decls.replace("enable f16;\n", "");
  return `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
${body}
var<workgroup> As: array<${T}, ${bm * bk}>;
var<workgroup> Bs: array<${T}, ${bk * bn}>;
var<workgroup> Cs: array<f32, ${bm * bn}>;
@compute @workgroup_size(${threads}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) sg: u32) {
  ${bases}
  let tileM = wid.y * ${bm}u;
  let tileN = wid.x * ${bn}u;
  let sr = (sg / 2u) * ${2 * M}u;
  let sc = (sg % 2u) * ${2 * N}u;
  ${accs.map(([i, j]) => `var acc${i}${j} = ${result}();`).join("\n  ")}
  for (var k0 = 0u; k0 < ${u32lit(k)}; k0 += ${bk}u) {
    for (var i = lid; i < ${bm * bk}u; i += ${threads}u) {
      let gm = tileM + i / ${bk}u; let gk = k0 + i % ${bk}u;
      var v = 0.0;
      if (gm < ${u32lit(m)} && gk < ${u32lit(k)}) { v = ld_a(aBase + gm * ${u32lit(sam)} + gk * ${u32lit(sak)}); }
      As[i] = ${T}(v);
    }
    for (var i = lid; i < ${bk * bn}u; i += ${threads}u) {
      let gk = k0 + i / ${bn}u; let gn = tileN + i % ${bn}u;
      var v = 0.0;
      if (gn < ${u32lit(n)} && gk < ${u32lit(k)}) { v = ld_b(bBase + gk * ${u32lit(sbk)} + gn * ${u32lit(sbn)}); }
      Bs[i] = ${T}(v);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk += ${K}u) {
      let l0 = subgroupMatrixLoad<${left}>(&As, (sr) * ${bk}u + kk, false, ${bk}u);
      let l1 = subgroupMatrixLoad<${left}>(&As, (sr + ${M}u) * ${bk}u + kk, false, ${bk}u);
      let r0 = subgroupMatrixLoad<${right}>(&Bs, kk * ${bn}u + sc, false, ${bn}u);
      let r1 = subgroupMatrixLoad<${right}>(&Bs, kk * ${bn}u + sc + ${N}u, false, ${bn}u);
      ${accs.map(([i, j]) => `acc${i}${j} = subgroupMatrixMultiplyAccumulate(l${i}, r${j}, acc${i}${j});`).join("\n      ")}
    }
    workgroupBarrier();
  }
  ${accs.map(([i, j]) => `subgroupMatrixStore(&Cs, (sr + ${i * M}u) * ${bn}u + sc + ${j * N}u, acc${i}${j}, false, ${bn}u);`).join("\n  ")}
  workgroupBarrier();
  for (var i = lid; i < ${bm * bn}u; i += ${threads}u) {
    let gm = tileM + i / ${bn}u; let gn = tileN + i % ${bn}u;
    if (gm < ${u32lit(m)} && gn < ${u32lit(n)}) {
      let acc_v = Cs[i];
      ${epilogue(ops)}
    }
  }
}`.replace("enable f16;\n", T === "f16" || decls.includes("enable f16;") ? "enable f16;\n" : "");
}
