/// <reference types="@webgpu/types" />
import { A2VError } from "@a2v/errors";

/** A float32 activation on the GPU, channel-major [C, D, H, W]. */
export interface GpuTensor {
  buffer: GPUBuffer;
  shape: number[];
}

export const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const STORAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST

/** Compiled pipelines per device and kernel source (shader compilation is the slow part on lavapipe). */
const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipeline(device: GPUDevice, code: string): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) {
    cache = new Map();
    pipelines.set(device, cache);
  }
  let p = cache.get(code);
  if (!p) {
    p = device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
    });
    cache.set(code, p);
  }
  return p;
}

/** Bytes of GPU buffers allocated through this module and not yet freed, and their high-water mark. */
export const gpuMemory = { live: 0, peak: 0 };

/** Frees a tensor's buffer (work already submitted that reads it still completes). */
export function gpuFree(...tensors: GpuTensor[]): void {
  for (const t of tensors) {
    gpuMemory.live -= t.buffer.size;
    t.buffer.destroy();
  }
}

/** Allocates an uninitialised activation, failing clearly past the device's buffer limits. */
export function gpuEmpty(device: GPUDevice, shape: number[]): GpuTensor {
  const bytes = Math.max(4, numelOf(shape) * 4);
  const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
  if (bytes > limit) {
    throw new A2VError(
      "gpu_buffer_too_large",
      `activation [${shape}] needs ${bytes} bytes, over the device's ${limit}-byte buffer limit; use tiled encode/decode`,
      { status: 422 },
    );
  }
  const buffer = device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: STORAGE });
  gpuMemory.live += buffer.size;
  gpuMemory.peak = Math.max(gpuMemory.peak, gpuMemory.live);
  return { buffer, shape };
}

export function gpuUpload(device: GPUDevice, data: Float32Array, shape: number[]): GpuTensor {
  const t = gpuEmpty(device, shape);
  device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return t;
}

export async function gpuDownload(device: GPUDevice, t: GpuTensor): Promise<Float32Array> {
  const bytes = numelOf(t.shape) * 4;
  const staging = device.createBuffer({ size: Math.max(4, bytes), usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(0x1);
  const out = new Float32Array(staging.getMappedRange().slice(0, bytes));
  staging.unmap();
  staging.destroy();
  return out;
}

/** Uniform params: every field a u32 unless listed in `floats`. Padded to 16 bytes. */
function uniform(device: GPUDevice, values: number[], floats: ReadonlySet<number>): GPUBuffer {
  const size = Math.ceil((values.length * 4) / 16) * 16;
  const buffer = device.createBuffer({ size, usage: 0x40 | 0x8 }); // UNIFORM | COPY_DST
  const data = new ArrayBuffer(size);
  const u = new Uint32Array(data);
  const f = new Float32Array(data);
  values.forEach((v, i) => {
    if (floats.has(i)) f[i] = v;
    else u[i] = v;
  });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

export interface Dispatch {
  code: string;
  /** Storage buffers at bindings 0..n-1. */
  buffers: GPUBuffer[];
  params: number[];
  /** Binding of the uniform (after the storage buffers unless the kernel fixes it). */
  paramsBinding?: number;
  floatParams?: number[];
  groups: [number, number, number];
}

/** Encodes and submits one compute dispatch. */
export function dispatch(device: GPUDevice, d: Dispatch): void {
  const p = pipeline(device, d.code);
  const params = uniform(device, d.params, new Set(d.floatParams ?? []));
  const entries: GPUBindGroupEntry[] = d.buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
  entries.push({ binding: d.paramsBinding ?? d.buffers.length, resource: { buffer: params } });
  const bindGroup = device.createBindGroup({ layout: p.getBindGroupLayout(0), entries });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(p);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...d.groups);
  pass.end();
  device.queue.submit([encoder.finish()]);
  params.destroy();
}

/** Workgroups for `n` threads of 64, wrapped into y past 32768 groups. */
export function linearGroups(n: number): [number, number, number] {
  const groups = Math.ceil(n / 64);
  const x = Math.min(groups, 32768);
  return [Math.max(1, x), Math.ceil(groups / x) || 1, 1];
}
