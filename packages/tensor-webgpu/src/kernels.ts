import type { Runtime } from "./runtime.js";

/** Which kernels matmul and attention run on this adapter, in words (what `a2v doctor` prints). */
export interface KernelPaths {
  matmul: string;
  attention: string;
}

/**
 * The kernel choice the ops make on this runtime's adapter: the subgroup-matrix GEMM when its `init()`
 * self-test passed, packed panels on CPU adapters with a fixed subgroup size, else the tiled SIMT kernel;
 * materialized attention on CPU adapters, else the fused flash kernels.
 */
export function kernelPaths(runtime: Runtime): KernelPaths {
  const { info } = runtime.gpu;
  const plan = runtime.sgmat;
  const fixedSubgroup =
    runtime.gpu.has("subgroups") && !!info.subgroupMinSize && info.subgroupMinSize === info.subgroupMaxSize;
  let matmul = "tiled SIMT (f32 accumulation)";
  if (plan) {
    const { M, N, K } = plan.config;
    matmul = `subgroup matrices, ${plan.component} ${M}x${N}x${K} with f32 accumulation (self-test passed)`;
  } else if (info.isSoftware && fixedSubgroup) {
    matmul = `packed panels of ${4 * info.subgroupMinSize!} columns (CPU adapter); tiled SIMT for small products`;
  }
  const attention = info.isSoftware ? "materialized: two GEMMs and a softmax (CPU adapter)" : "fused flash kernels";
  return { matmul, attention };
}
