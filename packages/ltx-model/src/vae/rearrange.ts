import { add, contiguous, mean, reshape, slice, type Tensor } from "@a2v/tensor-webgpu";

/**
 * The VAE's rearrangements on `@a2v/tensor-webgpu` tensors, built as strided views (any input
 * strides) so that each costs one copy, or none when it feeds an add. Shapes are [B, C, D, H, W].
 */

type Stride = readonly [number, number, number];

const dims5 = (t: Tensor) => t.shape as [number, number, number, number, number];
const strides5 = (t: Tensor) => t.strides as [number, number, number, number, number];

/** View [B, C, s1, s2, s3, D, H, W] of t [B, C, D·s1, H·s2, W·s3]: space_to_depth's channel (c, s1, s2, s3) as dims. */
function spaceToDepthView(t: Tensor, [s1, s2, s3]: Stride): Tensor {
  const [b, c, d, h, w] = dims5(t);
  const [sb, sc, sd, sh, sw] = strides5(t);
  return t.view([b, c, s1, s2, s3, d / s1, h / s2, w / s3], [sb, sc, sd, sh, sw, sd * s1, sh * s2, sw * s3], t.offset);
}

/**
 * View [B, n, C/n, D, s1, H, s2, W, s3] of t [B, C·s1·s2·s3, D, H, W]: depth_to_space with the output
 * channels split into n groups. `tile` repeats the channels n times instead (stride 0).
 */
function depthToSpaceView(t: Tensor, [s1, s2, s3]: Stride, n: number, tile = false): Tensor {
  const [b, cp, d, h, w] = dims5(t);
  const [sb, sc, sd, sh, sw] = strides5(t);
  const prod = s1 * s2 * s3;
  const c = tile ? cp / prod : cp / prod / n;
  return t.view(
    [b, n, c, d, s1, h, s2, w, s3],
    [sb, tile ? 0 : c * prod * sc, prod * sc, sd, s2 * s3 * sc, sh, s3 * sc, sw, sc],
    t.offset,
  );
}

/** [B, C, F, H·p, W·p] → [B, C·p², F, H, W] with channel c·p² + wOffset·p + hOffset (upstream's order). */
export function patchify(x: Tensor, p: number): Tensor {
  const [b, c, f, h, w] = dims5(x);
  const [sb, sc, sf, sh, sw] = strides5(x);
  const view = x.view([b, c, p, p, f, h / p, w / p], [sb, sc, sw, sh, sf, sh * p, sw * p], x.offset);
  const out = contiguous(view);
  view.dispose();
  return reshapeOwned(out, [b, c * p * p, f, h / p, w / p]);
}

/** The inverse of `patchify`. */
export function unpatchify(x: Tensor, p: number): Tensor {
  const [b, cp, f, h, w] = dims5(x);
  const [sb, sc, sf, sh, sw] = strides5(x);
  const c = cp / (p * p);
  const view = x.view([b, c, f, h, p, w, p], [sb, sc * p * p, sf, sh, sc, sw, sc * p], x.offset);
  const out = contiguous(view);
  view.dispose();
  return reshapeOwned(out, [b, c, f, h * p, w * p]);
}

/**
 * SpaceToDepthDownsample's output from x [B, C, D, H, W] (frame 0 already duplicated at time stride
 * 2) and conv, its causal conv [B, Cout/prod, D, H, W]: space_to_depth(conv) plus the mean over
 * `group` consecutive channels of space_to_depth(x). Disposes x and conv, each as soon as it is read.
 */
export function spaceToDepthSum(x: Tensor, conv: Tensor, stride: Stride, group: number): Tensor {
  const main = spaceToDepthView(conv, stride);
  let skip = spaceToDepthView(x, stride);
  if (group > 1) {
    const [b, cc] = main.shape as [number, number];
    const packed = contiguous(skip);
    skip.dispose();
    x.dispose();
    const grouped = reshapeOwned(packed, [b, cc * stride[0] * stride[1] * stride[2], group, -1]);
    skip = reshapeOwned(mean(grouped, 2), main.shape);
    grouped.dispose();
  }
  const out = add(main, skip);
  for (const t of [main, skip, x, conv]) t.dispose();
  const [b, cc, s1, s2, s3, d, h, w] = out.shape as number[];
  return reshapeOwned(out, [b!, cc! * s1! * s2! * s3!, d!, h!, w!]);
}

/**
 * DepthToSpaceUpsample's output from conv [B, Cout·prod, D, H, W] (disposed): depth_to_space(conv),
 * plus with `residual` (the block input [B, Cin, D, H, W]) depth_to_space(residual) with its
 * channels tiled to Cout. At time stride 2 the first frame is dropped (a view starting one frame in).
 */
export function depthToSpaceSum(conv: Tensor, stride: Stride, residual?: Tensor): Tensor {
  const prod = stride[0] * stride[1] * stride[2];
  const cout = conv.shape[1]! / prod;
  const repeat = residual ? cout / (residual.shape[1]! / prod) : 1;
  const main = depthToSpaceView(conv, stride, repeat);
  let out: Tensor;
  if (residual) {
    const tiled = depthToSpaceView(residual, stride, repeat, true);
    out = add(main, tiled);
    tiled.dispose();
  } else out = contiguous(main);
  main.dispose();
  conv.dispose();
  const [b, , , d, , h, , w] = out.shape as number[];
  const full = reshapeOwned(out, [b!, cout, d! * stride[0], h! * stride[1], w! * stride[2]]);
  if (stride[0] !== 2) return full;
  const dropped = slice(full, 2, 1);
  full.dispose();
  return dropped;
}

/** reshape of a contiguous tensor (a view), releasing the caller's handle. */
function reshapeOwned(t: Tensor, shape: readonly number[]): Tensor {
  const out = reshape(t, shape);
  t.dispose();
  return out;
}
