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
