import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { binding, coords, grid, groupIndex, header, loader, u32lit, type View, WG } from "../codegen.js";
import { cpuRope } from "../cpu/nn.js";
import { deviceOf, empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { broadcastView } from "./elementwise.js";

/**
 * RoPE layouts LTX uses. "split": the head dim is two halves (x1, x2) rotated pairwise
 * (out1 = x1·cos − x2·sin, out2 = x2·cos + x1·sin). "interleaved": pairs are (x[2i], x[2i+1]).
 */
export type RopeLayout = "split" | "interleaved";

function ropeRaw(x: Tensor, cos: Tensor, sin: Tensor, layout: RopeLayout, inverse: boolean): Tensor {
  for (const t of [x, cos, sin]) t.assertAlive();
  if (deviceOf([x, cos, sin]) === "cpu") return ropeCpu(x, cos, sin, layout, inverse);
  return withWindows([x, cos, sin], ([wx, wc, ws]) => ropeReady(wx!, wc!, ws!, layout, inverse));
}

/** The CPU device's RoPE, after the GPU path's head-dim check and a check that the tables broadcast. */
function ropeCpu(x: Tensor, cos: Tensor, sin: Tensor, layout: RopeLayout, inverse: boolean): Tensor {
  const dh = x.shape[x.rank - 1]!;
  if (dh % 2) throw new A2VError("bad_shape", `rope: the last dim must be even, got ${fmtShape(x.shape)}`);
  const tableShape = [...x.shape.slice(0, -1), dh / 2];
  for (const t of [cos, sin]) checkTable(t, tableShape);
  return cpuRope(x, cos, sin, layout, inverse);
}

function checkTable(t: Tensor, shape: readonly number[]): void {
  const lead = shape.length - t.rank;
  if (lead < 0 || t.shape.some((n, d) => n !== 1 && n !== shape[d + lead])) {
    throw new A2VError("shape_mismatch", `rope: a ${fmtShape(t.shape)} table does not broadcast to ${fmtShape(shape)}`);
  }
}

function ropeReady(x: Tensor, cos: Tensor, sin: Tensor, layout: RopeLayout, inverse: boolean): Tensor {
  const dh = x.shape[x.rank - 1]!;
  if (dh % 2) throw new A2VError("bad_shape", `rope: the last dim must be even, got ${fmtShape(x.shape)}`);
  const half = dh / 2;
  const tableShape = [...x.shape.slice(0, -1), half];
  const views: View[] = [cos, sin].map((t) => broadcastView(t, tableShape));
  const out = empty(x.shape, "f32");
  const n = out.size;
  if (n === 0) return out;
  const groups = Math.ceil(n / WG);
  const rank = x.rank;
  const off = (v: View, last: string): string => {
    const terms = [u32lit(v.offset)];
    v.shape.forEach((size, d) => {
      const s = v.strides[d]!;
      if (size === 1 || s === 0) return;
      const c = d === rank - 1 ? last : `c${d}`;
      terms.push(`${c} * ${u32lit(s)}`);
    });
    return terms.join(" + ");
  };
  const pair =
    layout === "split"
      ? `let first = j < ${u32lit(half)}; let i = select(j - ${u32lit(half)}, j, first);
  let jp = select(j - ${u32lit(half)}, j + ${u32lit(half)}, first);`
      : `let first = (j & 1u) == 0u; let i = j >> 1u; let jp = j ^ 1u;`;
  // Rotation by θ: the first element of a pair gets x·cos − xp·sin, the second x·cos + xp·sin.
  // The inverse rotation (backward) flips the sign of sin.
  const sign = inverse ? "select(-1.0, 1.0, first)" : "select(1.0, -1.0, first)";
  const wgsl = `${header([x.dtype, cos.dtype, sin.dtype])}${binding(0, "out", "f32", true)}
${binding(1, "x", x.dtype, false)}
${binding(2, "cs", cos.dtype, false)}
${binding(3, "sn", sin.dtype, false)}
${loader("x", x.dtype)}
${loader("cs", cos.dtype)}
${loader("sn", sin.dtype)}
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = ${groupIndex(groups)} * ${WG}u + lid;
  if (idx >= ${u32lit(n)}) { return; }
  ${coords(x.shape, "idx", "c")}
  let j = c${rank - 1};
  ${pair}
  let xv = ld_x(${off(x, "j")});
  let xp = ld_x(${off(x, "jp")});
  let cv = ld_cs(${off(views[0]!, "i")});
  let sv = ld_sn(${off(views[1]!, "i")});
  out[idx] = xv * cv + ${sign} * xp * sv;
}`;
  out.storage.runtime.dispatch(wgsl, [bindingOf(out), bindingOf(x), bindingOf(cos), bindingOf(sin)], grid(groups));
  return out;
}

/**
 * Rotary position embedding from precomputed tables. x [..., dh]; cos and sin broadcast to
 * [..., dh/2] (one angle per pair). LTX's interleaved tables repeat each angle twice along the last
 * dim: pass `slice(table, -1, 0, dh, 2)`. Differentiable in x.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor, layout: RopeLayout = "split"): Tensor {
  const out = ropeRaw(x, cos, sin, layout, false);
  return track("rope", out, [x], [cos, sin], (g, [c, s]) => [ropeRaw(g, c!, s!, layout, true)]);
}
