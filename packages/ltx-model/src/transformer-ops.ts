import {
  type AttentionOptions,
  add,
  attention,
  cast,
  checkpoint,
  concat,
  flatten,
  matmul,
  mul,
  permute,
  reshape,
  rope,
  scope,
  slice,
  softmax,
  sub,
  type Tensor,
} from "@a2v/tensor-webgpu";

/**
 * The transformer's per-head helpers over `[..., tokens, heads·dh]` activations (batch axes first, none for batch 1), each either one fused kernel or
 * composed from plain ops (`fused: false`: faster on CPU adapters, and the benchmark's baseline).
 */

/** `[...lead, n, width]` → `{ lead, n, width }` (lead: the batch axes, none for batch 1). */
function rows(x: Tensor): { lead: number[]; n: number; width: number } {
  return { lead: x.shape.slice(0, -2), n: x.shape[x.rank - 2]!, width: x.shape[x.rank - 1]! };
}

/** Split RoPE per head: halves x1/x2 of each head rotate by the table's columns for that head. */
export function headRope(fused: boolean, x: Tensor, cos: Tensor, sin: Tensor, heads: number): Tensor {
  const { lead, n, width } = rows(x);
  const half = width / heads / 2;
  if (fused) {
    const table = (t: Tensor) => reshape(t, [n, heads, half]);
    return reshape(rope(reshape(x, [...lead, n, heads, 2 * half]), table(cos), table(sin), "split"), x.shape);
  }
  const xr = reshape(x, [...lead, n, heads, 2, half]);
  const pair = lead.length + 2;
  const x1 = slice(xr, pair, 0, 1);
  const x2 = slice(xr, pair, 1, 2);
  const c = reshape(cos, [n, heads, 1, half]);
  const s = reshape(sin, [n, heads, 1, half]);
  const o1 = sub(mul(x1, c), mul(x2, s));
  const o2 = add(mul(x2, c), mul(x1, s));
  return reshape(concat([o1, o2], pair), x.shape);
}

/** The axis order that swaps the two axes before the last one, after `lead` batch axes. */
function swap(lead: number, order: [number, number, number]): number[] {
  return [...Array.from({ length: lead }, (_, i) => i), ...order.map((d) => lead + d)];
}

/** Scaled dot-product attention per head: q `[..., Nq, H·dh]`, k/v `[..., Nk, H·dh]`. */
export function headAttention(
  fused: boolean,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  kernel: AttentionOptions["kernel"] = "auto",
): Tensor {
  const { lead, n: nq, width } = rows(q);
  const nk = k.shape[k.rank - 2]!;
  const dh = width / heads;
  if (fused) {
    const batch = lead.reduce((a, d) => a * d, 1);
    const heads4 = (t: Tensor, n: number) => permute(reshape(t, [batch, n, heads, dh]), [0, 2, 1, 3]);
    const out = attention(heads4(q, nq), heads4(k, nk), heads4(v, nk), { kernel });
    return reshape(permute(out, [0, 2, 1, 3]), [...lead, nq, width]);
  }
  const L = lead.length;
  const qh = permute(reshape(q, [...lead, nq, heads, dh]), swap(L, [1, 0, 2]));
  const khT = permute(reshape(k, [...lead, nk, heads, dh]), swap(L, [1, 2, 0]));
  const vh = permute(reshape(v, [...lead, nk, heads, dh]), swap(L, [1, 0, 2]));
  const probs = softmax(matmul(qh, khT, { alpha: 1 / Math.sqrt(dh) }));
  return reshape(permute(matmul(probs, vh), swap(L, [1, 0, 2])), [...lead, nq, width]);
}

/** x `[..., N, H·dh]` times a per-head factor g `[..., N, H]`. */
export function mulPerHead(x: Tensor, g: Tensor, heads: number): Tensor {
  const { lead, n, width } = rows(x);
  return reshape(mul(reshape(x, [...lead, n, heads, width / heads]), reshape(g, [...lead, n, heads, 1])), x.shape);
}

/**
 * Runs one block so its temporaries are freed when it returns; with `useCheckpoint` only its inputs are kept
 * and the block is recomputed in backward (per-block gradient checkpointing). `stored: "bf16"` keeps those inputs
 * in bf16 (half the memory of the checkpoints); the block then runs on the rounded inputs both times, so forward
 * and recomputation agree.
 */
export function runBlock(
  fn: (vx: Tensor, ax: Tensor) => { vx: Tensor; ax: Tensor },
  vx: Tensor,
  ax: Tensor,
  useCheckpoint: boolean,
  stored: "f32" | "bf16" = "f32",
): { vx: Tensor; ax: Tensor } {
  if (!useCheckpoint) return scope(() => fn(vx, ax));
  return scope(() => {
    const widen = (t: Tensor) => (stored === "bf16" ? cast(t, "f32") : t);
    const keep = (t: Tensor) => (stored === "bf16" ? cast(t, "bf16") : t);
    // The runtime checkpoints single-output functions: pack both streams into one vector.
    const packed = checkpoint(
      (v, a) => {
        const out = fn(widen(v), widen(a));
        return concat([flatten(out.vx), flatten(out.ax)], 0);
      },
      keep(vx),
      keep(ax),
    );
    return {
      vx: reshape(slice(packed, 0, 0, vx.size), vx.shape),
      ax: reshape(slice(packed, 0, vx.size, vx.size + ax.size), ax.shape),
    };
  });
}
