import {
  type Device,
  empty,
  expand,
  type HostTensor,
  map,
  mapInto,
  pixelNormSilu,
  slice,
  type Tensor,
  tensor,
} from "@a2v/tensor-webgpu";

/** Host values (row-major float32) as a tensor on `device` (default: the default device). */
export const fromHost = (h: HostTensor, device?: Device): Tensor => tensor(h.data, h.shape, "f32", device);

/** The values of a tensor (any view, either device) as row-major float32 with its shape. */
export async function toHost(t: Tensor): Promise<HostTensor> {
  return { shape: [...t.shape], data: Float32Array.from(await t.toArray()) };
}

/** Receives named intermediates of a run; `value` is disposed once the returned promise settles. */
export type TensorTrace = (name: string, value: Tensor) => void | Promise<void>;

/**
 * A new [B, C, before + D + after, H, W] tensor: x in the middle, frame 0 replicated `before` times
 * in front and the last frame `after` times behind (CausalConv3d's replicate time padding, which
 * the zero-padding conv3d lacks). `write(src, dst)` fills each part from a view of x.
 */
function framesPadded(x: Tensor, before: number, after: number, write: (src: Tensor, dst: Tensor) => void): Tensor {
  const [b, c, d, h, w] = x.shape as [number, number, number, number, number];
  const out = empty([b, c, before + d + after, h, w], "f32", x.device);
  const put = (src: Tensor, at: number) => {
    const dst = slice(out, 2, at, at + src.shape[2]!);
    write(src, dst);
    dst.dispose();
  };
  put(x, before);
  for (const [n, from, at] of [
    [before, 0, 0],
    [after, d - 1, before + d],
  ] as const) {
    if (n === 0) continue;
    const frame = slice(x, 2, from, from + 1);
    const edge = expand(frame, [b, c, n, h, w]);
    put(edge, at);
    frame.dispose();
    edge.dispose();
  }
  return out;
}

/** x with replicated edge frames (a copy). */
export function padFrames(x: Tensor, before: number, after: number): Tensor {
  return framesPadded(x, before, after, (src, dst) => mapInto("x0", [src], dst));
}

/** pixelNormSilu(x) with replicated edge frames, written straight into the padded tensor. */
export function normSiluPadded(x: Tensor, eps: number, before: number, after: number): Tensor {
  return framesPadded(x, before, after, (src, dst) => pixelNormSilu(src, eps, dst));
}

/** Per-channel statistics (upstream `PerChannelStatistics`): (x − mean) / std, with mean and std shaped to broadcast. */
export const normalizeChannels = (x: Tensor, mean: Tensor, std: Tensor): Tensor =>
  map("(x0 - x1) / x2", [x, mean, std]);

/** The inverse: x · std + mean. */
export const denormalizeChannels = (x: Tensor, mean: Tensor, std: Tensor): Tensor =>
  map("x0 * x2 + x1", [x, mean, std]);

/** A conv's parameters, resident on the model's device. */
export interface ConvWeights {
  weight: Tensor;
  bias: Tensor;
}

/** Frees a VAE encoder's or decoder's resident weights: every conv and the per-channel statistics. */
export function disposeVaeWeights(convs: ReadonlyMap<string, ConvWeights>, ...statistics: Tensor[]): void {
  for (const c of convs.values()) {
    c.weight.dispose();
    c.bias.dispose();
  }
  for (const t of statistics) t.dispose();
}
