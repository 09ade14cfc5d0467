import { A2VError } from "@a2v/errors";
import type { Operands } from "../ops/gemm-codegen.js";
import { fmtShape, type Tensor } from "../tensor.js";
import { asNd, fromNd } from "./host.js";
import { max, mean, matmul as refMatmul, sum, zip } from "./reference.js";

/**
 * The CPU device's GEMM: out = alpha·(A·B) + bias + addTo over broadcast batch dims, accumulated in f64
 * (any strides: the operands are gathered first; bf16/f16 operands already hold their rounded values).
 * One implementation for every GPU variant (tiled, panel, small, naive, subgroup-matrix). Result f32,
 * contiguous [...batch, M, N], like the GPU kernels'.
 */
export function cpuMatmul(
  ops: Pick<Operands, "a" | "b" | "bias" | "addTo" | "alpha" | "colScale" | "batch" | "m" | "n">,
): Tensor {
  const shape = [...ops.batch, ops.m, ops.n];
  const product = refMatmul(asNd(ops.a), asNd(ops.b));
  const prod = ops.colScale ? zip([product, asNd(ops.colScale)], (p, s) => p * s) : product;
  const extras = [ops.bias, ops.addTo].filter((t): t is Tensor => t !== undefined).map(asNd);
  const alpha = ops.alpha;
  const out =
    extras.length === 0 && alpha === 1
      ? prod
      : zip([prod, ...extras], (p, ...rest) => {
          let v = alpha * p;
          for (const r of rest) v += r;
          return v;
        });
  if (out.data.length !== prod.data.length) {
    throw new A2VError("shape_mismatch", `matmul: addTo broadcasts the result beyond ${fmtShape(shape)}`);
  }
  return fromNd({ data: out.data, shape }, "f32");
}

/** The reductions (ops/reduce.ts): the same names on both devices. */
export type ReduceOp = "sum" | "mean" | "max";

/** The CPU device's reduction kernel: `op` over `axes` (kept as size 1), f64, result f32. */
export function cpuReduce(x: Tensor, axes: readonly number[], op: ReduceOp): Tensor {
  const nd = asNd(x);
  const fn = op === "sum" ? sum : op === "mean" ? mean : max;
  return fromNd(fn(nd, axes), "f32");
}
