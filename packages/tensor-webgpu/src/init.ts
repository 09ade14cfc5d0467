import { A2VError } from "@a2v/errors";
import { matmulRaw } from "./ops/matmul.js";
import { planSubgroupMatrix, type SgmatPlan, useSgmatPlan } from "./ops/matmul-sgmat.js";
import { randn } from "./ops/random.js";
import { acquireRuntime, type Runtime } from "./runtime.js";

/**
 * Acquires the GPU (see `requestGpu`) and the tensor runtime on it. Call once before using tensors.
 * When the adapter offers subgroup matrices, a self-test decides whether matmul uses them.
 */
export function init(): Promise<Runtime> {
  return acquireRuntime(probeSubgroupMatrix);
}

/**
 * Enables the subgroup-matrix path when the adapter offers a config and a self-test agrees with the
 * SIMT kernel (f16 rounding tolerance). `A2V_MATMUL=simt` forces SIMT. Returns the plan in use.
 */
async function probeSubgroupMatrix(runtime: Runtime): Promise<SgmatPlan | undefined> {
  const plan = process.env.A2V_MATMUL === "simt" ? undefined : planSubgroupMatrix(runtime);
  if (!plan) return undefined;
  const a = randn([70, 40], 1);
  const b = randn([40, 50], 2);
  const simt = matmulRaw(a, b);
  useSgmatPlan(runtime, plan);
  try {
    const fast = matmulRaw(a, b);
    const want = (await simt.toArray()) as Float32Array;
    const got = (await fast.toArray()) as Float32Array;
    fast.dispose();
    const worst = want.reduce((w, v, i) => Math.max(w, Math.abs(v - got[i]!) / (1 + Math.abs(v))), 0);
    if (!(worst < 2e-2)) throw new A2VError("sgmat_self_test_failed", `self-test error ${worst}`);
    return plan;
  } catch (error) {
    useSgmatPlan(runtime, undefined);
    process.emitWarning(`subgroup-matrix matmul disabled: ${(error as Error).message}`, "A2VGpuWarning");
    return undefined;
  } finally {
    for (const t of [a, b, simt]) t.dispose();
  }
}
