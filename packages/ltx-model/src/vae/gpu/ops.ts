import {
  CHANNEL_STATS_WGSL,
  CONV_TILE,
  CONV3D_WGSL,
  DEPTH_TO_SPACE_WGSL,
  MAX_GROUPS_X,
  PATCHIFY_WGSL,
  PIXEL_NORM_SILU_WGSL,
  SPACE_TO_DEPTH_WGSL,
} from "./kernels.js";
import { dispatch, type GpuTensor, gpuEmpty, linearGroups, numelOf } from "./runtime.js";

/** A conv's parameters on the GPU: weight [O, C·27] (the [O, C, 3, 3, 3] layout as is) and bias [O]. */
export interface GpuConv {
  weight: GpuTensor;
  bias: GpuTensor;
  inChannels: number;
  outChannels: number;
}

/** Geometry of a conv: kernel (kd, kh, kw), stride (1, sh, sw), zero padding [before, after] in H and W. */
export interface ConvGeometry {
  kernel: [number, number, number];
  stride: [number, number];
  padH: [number, number];
  padW: [number, number];
}

/** The video VAE's k=3 conv: stride 1, zero padding 1 in height and width. */
export const VIDEO_CONV: ConvGeometry = { kernel: [3, 3, 3], stride: [1, 1], padH: [1, 1], padW: [1, 1] };

/**
 * conv3d of x [C, D, H, W]: time padded by replicating `padBefore`/`padAfter` edge frames, height
 * and width zero-padded per `geometry`; optionally adds `residual` (same shape as the output).
 */
export function conv3dGpu(
  device: GPUDevice,
  x: GpuTensor,
  conv: GpuConv,
  padBefore: number,
  padAfter: number,
  residual?: GpuTensor,
  geometry: ConvGeometry = VIDEO_CONV,
): GpuTensor {
  const [c, d, h, w] = x.shape as [number, number, number, number];
  const [kd, kh, kw] = geometry.kernel;
  const [sh, sw] = geometry.stride;
  const dOut = d + padBefore + padAfter - kd + 1;
  const ho = Math.floor((h + geometry.padH[0] + geometry.padH[1] - kh) / sh) + 1;
  const wo = Math.floor((w + geometry.padW[0] + geometry.padW[1] - kw) / sw) + 1;
  const out = gpuEmpty(device, [conv.outChannels, dOut, ho, wo]);
  const tilesN = Math.ceil((dOut * ho * wo) / CONV_TILE);
  const gx = Math.min(tilesN, MAX_GROUPS_X);
  dispatch(device, {
    code: CONV3D_WGSL,
    buffers: [x.buffer, conv.weight.buffer, conv.bias.buffer, residual?.buffer ?? conv.bias.buffer, out.buffer],
    params: [
      ...[c, d, h, w, conv.outChannels, dOut, padBefore, residual ? 1 : 0, tilesN],
      ...[kd, kh, kw, sh, sw, geometry.padH[0], geometry.padW[0], ho, wo],
    ],
    groups: [gx, Math.ceil(conv.outChannels / CONV_TILE), Math.ceil(tilesN / gx)],
  });
  return out;
}

/** PixelNorm over channels (eps), then SiLU unless `silu` is false. */
export function pixelNormSiluGpu(device: GPUDevice, x: GpuTensor, eps: number, silu = true): GpuTensor {
  const [c] = x.shape as [number];
  const p = numelOf(x.shape) / c;
  const out = gpuEmpty(device, x.shape);
  dispatch(device, {
    code: PIXEL_NORM_SILU_WGSL,
    buffers: [x.buffer, out.buffer],
    params: [c, p, eps, silu ? 1 : 0],
    floatParams: [2],
    groups: linearGroups(p),
  });
  return out;
}

/** VAE patchify [C, F, H, W] -> [C·p², F, H/p, W/p], or with `inverse` unpatchify. */
export function patchifyGpu(device: GPUDevice, x: GpuTensor, p: number, inverse: boolean): GpuTensor {
  const [c, f, h, w] = x.shape as [number, number, number, number];
  const [lowC, lowH, lowW] = inverse ? [c / (p * p), h, w] : [c, h / p, w / p];
  const out = gpuEmpty(device, inverse ? [lowC, f, h * p, w * p] : [c * p * p, f, lowH, lowW]);
  const total = numelOf(x.shape);
  dispatch(device, {
    code: PATCHIFY_WGSL,
    buffers: [x.buffer, out.buffer],
    params: [total, lowC, f, lowH, lowW, p, inverse ? 1 : 0],
    paramsBinding: 9,
    groups: linearGroups(total),
  });
  return out;
}

/**
 * SpaceToDepthDownsample from x and conv (its causal conv, computed with the duplicated first frame
 * when the time stride is 2): space_to_depth(conv) + group-mean(space_to_depth(x)).
 */
export function spaceToDepthGpu(
  device: GPUDevice,
  x: GpuTensor,
  conv: GpuTensor,
  stride: [number, number, number],
  outChannels: number,
  groupSize: number,
): GpuTensor {
  const [cin, d, h, w] = x.shape as [number, number, number, number];
  const dup = stride[0] === 2 ? 1 : 0;
  const shape = [outChannels, (d + dup) / stride[0], h / stride[1], w / stride[2]];
  const out = gpuEmpty(device, shape);
  const total = numelOf(shape);
  dispatch(device, {
    code: SPACE_TO_DEPTH_WGSL,
    buffers: [x.buffer, conv.buffer, out.buffer],
    params: [total, cin, d, h, w, shape[1]!, shape[2]!, shape[3]!, ...stride, groupSize, dup],
    paramsBinding: 9,
    groups: linearGroups(total),
  });
  return out;
}

/** DepthToSpaceUpsample from x and conv(x): depth_to_space, first frame dropped at time stride 2, + residual. */
export function depthToSpaceGpu(
  device: GPUDevice,
  x: GpuTensor,
  conv: GpuTensor,
  stride: [number, number, number],
  outChannels: number,
  residual: boolean,
): GpuTensor {
  const [cin, d, h, w] = x.shape as [number, number, number, number];
  const drop = stride[0] === 2 ? 1 : 0;
  const shape = [outChannels, d * stride[0] - drop, h * stride[1], w * stride[2]];
  const out = gpuEmpty(device, shape);
  const total = numelOf(shape);
  dispatch(device, {
    code: DEPTH_TO_SPACE_WGSL,
    buffers: [x.buffer, conv.buffer, out.buffer],
    params: [total, cin, d, h, w, shape[1]!, ...stride, drop, residual ? 1 : 0],
    paramsBinding: 9,
    groups: linearGroups(total),
  });
  return out;
}

/**
 * Per-channel statistics on the first `channels` channels of x: (x - mean) / std, or the inverse.
 * With `perLastAxis` the statistics index is channel × last-axis size + last-axis index (audio latents).
 */
export function channelStatsGpu(
  device: GPUDevice,
  x: GpuTensor,
  channels: number,
  mean: GPUBuffer,
  std: GPUBuffer,
  inverse: boolean,
  perLastAxis = false,
): GpuTensor {
  const p = numelOf(x.shape.slice(1));
  const shape = [channels, ...x.shape.slice(1)];
  const out = gpuEmpty(device, shape);
  dispatch(device, {
    code: CHANNEL_STATS_WGSL,
    buffers: [x.buffer, mean, std, out.buffer],
    params: [channels * p, p, inverse ? 1 : 0, perLastAxis ? x.shape.at(-1)! : 1],
    paramsBinding: 9,
    groups: linearGroups(channels * p),
  });
  return out;
}
