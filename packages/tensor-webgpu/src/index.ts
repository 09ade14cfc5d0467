export { enableGrad, isGradEnabled, noGrad } from "./autograd.js";
export { backward, checkpoint } from "./backward.js";
export {
  type Gpu,
  type GpuInfo,
  type GpuOptions,
  releaseGpu,
  requestGpu,
  type SubgroupMatrixConfig,
  WANTED_FEATURES,
  WANTED_LIMITS,
} from "./device.js";
export {
  bf16BitsToF32,
  bf16ToF32,
  type DType,
  f8e4m3BitsToF32,
  f8e4m3ToF32,
  f8e5m2ToF32,
  f16BitsToF32,
  f16ToF32,
  f32ToBf16,
  f32ToBf16Bits,
  f32ToF8e4m3,
  f32ToF8e4m3Bits,
  f32ToF16,
  f32ToF16Bits,
  f32ToI8,
  type HostArray,
  isFloat,
  isQuantized,
} from "./dtype.js";
export { type HostTensor, hostTensor } from "./host-tensor.js";
export { init } from "./init.js";
export { type KernelPaths, kernelPaths } from "./kernels.js";
export { type AttentionOptions, attention } from "./ops/attention.js";
export { type Conv2dOptions, type Conv3dOptions, type ConvKernel, conv2d, conv3d } from "./ops/conv.js";
export {
  abs,
  add,
  broadcastShapes,
  cast,
  contiguous,
  div,
  exp,
  fill,
  gelu,
  log,
  type MapExtras,
  map,
  mapInto,
  modulate,
  mul,
  neg,
  ones,
  relu,
  rsqrt,
  scale,
  sigmoid,
  silu,
  sqrt,
  square,
  sub,
  tanh,
  where,
  zeros,
} from "./ops/elementwise.js";
export type { TileConfig } from "./ops/gemm-codegen.js";
export { mseLoss } from "./ops/loss.js";
export {
  addLoraUpdate,
  linear,
  loraLinear,
  type MatmulOptions,
  type MatmulVariant,
  matmul,
  matmulRaw,
} from "./ops/matmul.js";
export { layerNorm, type RmsNormOptions, rmsNorm, softmax } from "./ops/norm.js";
export { pixelNormSilu } from "./ops/pixel-norm-silu.js";
export { dequantize, type Quantized, quantize, quantizedLinear } from "./ops/quantized.js";
export { rand, randn } from "./ops/random.js";
export { max, mean, sum } from "./ops/reduce.js";
export { type RopeLayout, rope } from "./ops/rope.js";
export { concat, expand, flatten, permute, reshape, slice, split, squeeze, transpose, unsqueeze } from "./ops/shape.js";
export { depthToSpace, groupNorm, pixelNorm, spaceToDepth, upsampleNearest } from "./ops/vae.js";
export { AdamW, type AdamWOptions, type LrSchedule, learningRate } from "./optim.js";
export { BufferPool, bucketSize, type PoolStats } from "./pool.js";
export { flush, type Runtime, rt } from "./runtime.js";
export {
  type Device,
  deviceOf,
  empty,
  fromArray,
  getDefaultDevice,
  keep,
  onDevice,
  scope,
  setDefaultDevice,
  Tensor,
  tensor,
  toDevice,
} from "./tensor.js";
