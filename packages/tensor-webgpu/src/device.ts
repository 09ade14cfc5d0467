import { A2VError } from "@a2v/errors";
import { create, globals } from "webgpu";

/** Features a2v uses when the adapter offers them. */
export const WANTED_FEATURES = [
  "shader-f16",
  "subgroups",
  "timestamp-query",
  "chromium-experimental-subgroup-matrix",
] as const;

/** Limits requested at the adapter's real maximum (WebGPU defaults are far below what GPUs have). */
export const WANTED_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxBindGroups",
] as const;

export interface GpuOptions {
  /** Dawn backend: "vulkan" (Linux default), "opengles", "metal", "d3d12". Env: A2V_GPU_BACKEND. */
  backend?: string;
  /** Substring of the adapter name to pick, e.g. "llvmpipe" or "H100". Env: A2V_GPU_ADAPTER. */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /**
   * Dawn's checks: "on" keeps validation, robustness (bounds clamping) and lazy clears; "off" is the production
   * setting (ONNX Runtime's): `skip_validation`, `disable_robustness`, no lazy clears. Default: off on hardware
   * adapters, on on software ones (lavapipe) and under vitest. Env: A2V_GPU_CHECKS=on|off.
   */
  checks?: "on" | "off";
}

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface GpuInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  /** True for CPU rasterisers (lavapipe, SwiftShader): slow, use tiny models. */
  isSoftware: boolean;
  features: string[];
  limits: Record<string, number>;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  /** Dawn's checks as the device was created with them ("off": the production setting; see `GpuOptions.checks`). */
  checks: "on" | "off";
  /** The Dawn toggles the device was created with. */
  toggles: { enabled: string[]; disabled: string[] };
}

export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: GpuInfo;
  has(feature: (typeof WANTED_FEATURES)[number]): boolean;
}

let pending: Promise<Gpu> | undefined;
let current: Gpu | undefined;
// Dawn instances are created once and never dropped: releasing one while Dawn's threads wind down after
// device.destroy() crashes the process (SIGSEGV/SIGABRT at exit, seen under load). One per flag set.
const dawnInstances = new Map<string, GPU>();

function toggles(checks: "on" | "off"): GpuInfo["toggles"] {
  // allow_unsafe_apis: experimental subgroup-matrix; vulkan_enable_f16_on_nvidia: Dawn turns f16 off on NVIDIA otherwise.
  const enabled = ["allow_unsafe_apis", "vulkan_enable_f16_on_nvidia"];
  // Real kernel timings for benchmarks (Dawn quantises timestamps to ~0.1 ms by default).
  const disabled = ["timestamp_quantization"];
  if (checks === "off") {
    enabled.push("disable_robustness", "skip_validation");
    disabled.push("lazy_clear_resource_on_first_use");
  }
  return { enabled, disabled };
}

function dawnFlags(opts: GpuOptions, checks: "on" | "off"): string[] {
  const t = toggles(checks);
  const flags = [`enable-dawn-features=${t.enabled.join(",")}`, `disable-dawn-features=${t.disabled.join(",")}`];
  const adapter = opts.adapter ?? process.env.A2V_GPU_ADAPTER;
  flags.push(`backend=${backendOf(opts)}`);
  if (adapter) flags.push(`adapter=${adapter}`);
  return flags;
}

/** One Dawn instance per flag set, created once and never dropped (see above). */
function dawn(flags: string[]): GPU {
  const key = flags.join(" ");
  let instance = dawnInstances.get(key);
  if (!instance) {
    instance = create(flags);
    dawnInstances.set(key, instance);
  }
  return instance;
}

function checksWanted(opts: GpuOptions): "on" | "off" | undefined {
  const env = process.env.A2V_GPU_CHECKS;
  const wanted = opts.checks ?? (env === "on" || env === "off" ? env : undefined);
  return wanted ?? (process.env.VITEST ? "on" : undefined);
}

const PLATFORM_BACKEND: Record<string, string> = { linux: "vulkan", darwin: "metal", win32: "d3d12" };

function backendOf(opts: GpuOptions): string {
  return opts.backend ?? process.env.A2V_GPU_BACKEND ?? PLATFORM_BACKEND[process.platform] ?? "vulkan";
}

const NO_ADAPTER_HELP = [
  "No WebGPU adapter was found (Dawn needs a Vulkan driver on Linux).",
  "- CPU-only Debian: install the loader and lavapipe from bookworm-backports (mesa >= 25):",
  "    echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list",
  "    apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1",
  "  ('bash scripts/setup.sh' does this for you.)",
  "- NVIDIA: install libvulkan1 and make sure nvidia_icd.json is visible; VK_DRIVER_FILES=/path/nvidia_icd.json picks it.",
  "- A2V_GPU_BACKEND=vulkan|opengles picks the Dawn backend; A2V_GPU_ADAPTER=<name substring> picks the adapter.",
  "- Fallback: A2V_GPU_BACKEND=opengles with EGL_PLATFORM=surfaceless uses llvmpipe through OpenGL ES.",
].join("\n");

function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const ai = adapter.info;
  return SOFTWARE.test(`${ai.vendor} ${ai.architecture} ${ai.device} ${ai.description}`.toLowerCase());
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/;

function summarise(adapter: GPUAdapter, device: GPUDevice, backend: string): Omit<GpuInfo, "checks" | "toggles"> {
  const ai = adapter.info as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
    subgroupMatrixConfigs?: SubgroupMatrixConfig[];
  };
  const limits: Record<string, number> = {};
  for (const key of WANTED_LIMITS) limits[key] = Number(device.limits[key]);
  const text = `${ai.vendor} ${ai.architecture} ${ai.device} ${ai.description}`.toLowerCase();
  return {
    vendor: ai.vendor,
    architecture: ai.architecture,
    device: ai.device,
    description: ai.description,
    backend,
    isSoftware: SOFTWARE.test(text),
    features: [...device.features].map(String).sort(),
    limits,
    subgroupMinSize: ai.subgroupMinSize,
    subgroupMaxSize: ai.subgroupMaxSize,
    subgroupMatrixConfigs: [...(ai.subgroupMatrixConfigs ?? [])].map((c) => ({
      componentType: c.componentType,
      resultComponentType: c.resultComponentType,
      M: c.M,
      N: c.N,
      K: c.K,
    })),
  };
}

async function acquire(opts: GpuOptions): Promise<Gpu> {
  process.env.XDG_RUNTIME_DIR ??= "/tmp";
  Object.assign(globalThis, globals);
  const request = { powerPreference: opts.powerPreference ?? "high-performance" } as const;
  // The checks are instance flags chosen before the adapter is known: ask with them on, and when the adapter is
  // hardware (and nothing asked for checks) ask again from an instance with the production flags.
  const wanted = checksWanted(opts);
  let checks: "on" | "off" = wanted ?? "on";
  let adapter = await dawn(dawnFlags(opts, checks)).requestAdapter(request);
  if (adapter && wanted === undefined && !isSoftwareAdapter(adapter)) {
    checks = "off";
    adapter = await dawn(dawnFlags(opts, checks)).requestAdapter(request);
  }
  if (!adapter) throw new A2VError("no_gpu_adapter", NO_ADAPTER_HELP, { status: 503 });
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const key of WANTED_LIMITS) requiredLimits[key] = Number(adapter.limits[key]);
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  device.addEventListener("uncapturederror", (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    process.emitWarning(`WebGPU error: ${error.message}`, "A2VGpuWarning");
  });
  const gpu: Gpu = {
    device,
    adapter,
    info: { ...summarise(adapter, device, backendOf(opts)), checks, toggles: toggles(checks) },
    has: (feature) => device.features.has(feature),
  };
  current = gpu;
  return gpu;
}

/**
 * Acquires the process-wide Dawn adapter and device (one per process: Dawn devices spin a thread,
 * and a second adapter would double GPU memory use). Later calls return the same device; options
 * only apply to the first call. The device is destroyed on process exit.
 */
export function requestGpu(options: GpuOptions = {}): Promise<Gpu> {
  pending ??= acquire(options).catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

const releaseHooks: Array<() => void> = [];

/** Registers a callback run by `releaseGpu()` (state bound to the device must be dropped with it). */
export function onGpuRelease(hook: () => void): void {
  releaseHooks.push(hook);
}

/** Destroys the device so the process can exit; a later `requestGpu()` acquires a fresh one. */
export function releaseGpu(): void {
  for (const hook of releaseHooks) hook();
  current?.device.destroy();
  current = undefined;
  pending = undefined;
}

process.once("exit", releaseGpu);
