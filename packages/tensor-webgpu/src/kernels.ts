import { materializes } from "./ops/attention.js";
import { panelSubgroup } from "./ops/matmul-panel.js";
import { sgmatPlan } from "./ops/matmul-sgmat.js";
import type { Runtime } from "./runtime.js";

/** Which kernels matmul and attention run on this adapter, in words (what `a2v doctor` prints). */
export interface KernelPaths {
  matmul: string;
  attention: string;
}

/**
 * The kernel choice the ops make on this runtime's adapter (from the same predicates they use): the
 * subgroup-matrix GEMM when its `init()` self-test passed, packed panels on CPU adapters with a fixed
 * subgroup size (and the shape-generic small-product kernel below their size threshold), else the tiled SIMT
 * kernel; materialized attention on CPU adapters, else the flash kernels.
 */
export function kernelPaths(runtime: Runtime): KernelPaths {
  const plan = sgmatPlan(runtime);
  const subgroup = panelSubgroup(runtime);
  let matmul = "tiled SIMT (f32 accumulation)";
  if (plan) {
    const { M, N, K } = plan.config;
    matmul = `subgroup matrices, ${plan.component} ${M}x${N}x${K} with f32 accumulation (self-test passed)`;
  } else if (runtime.gpu.info.isSoftware && subgroup) {
    matmul = `packed panels of ${4 * subgroup} columns (CPU adapter); small products on one shape-generic kernel`;
  } else if (runtime.gpu.info.isSoftware) {
    matmul = "tiled SIMT (f32 accumulation); small products on one shape-generic kernel (CPU adapter)";
  }
  const attention = materializes(runtime)
    ? "materialized: two GEMMs and a softmax (CPU adapter)"
    : "fused flash kernels";
  return { matmul, attention };
}
