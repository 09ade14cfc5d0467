import { binding, header, loader } from "../codegen.js";
import { STORAGE_USAGE } from "../pool.js";
import type { Runtime } from "../runtime.js";
import { empty, type Tensor } from "../tensor.js";
import { bindingOf } from "../window.js";
import type { SmallConvGeometry } from "./conv-small.js";
import { panelSubgroup } from "./matmul-panel.js";

/**
 * Convolution forward for CPU adapters (lavapipe), built for the VAE's shapes: few channels, many positions.
 * llvmpipe turns every storage load at a computed address into a scalar loop over the lanes, while uniform-buffer
 * loads are branch-free gathers (see matmul-panel.ts). So:
 * - the weights are packed (one small dispatch, into a scratch buffer per runtime) into blocks of `COB` output
 *   channels × (Ci chunk, taps), read as vec4s over output channels from a uniform binding of at most 64 KiB (with
 *   subgroups, one vec4 per lane, handed to every lane by subgroupBroadcast);
 * - each invocation computes `COB` output channels at `PW` consecutive positions along W, so one input load serves
 *   up to COB·kw multiply-adds and one weight vec4 serves PW positions;
 * - taps are nested loops (no per-element div/mod), and padding is a clamped load and a select (no branches).
 * For kw = 3, stride 1, dilation 1 along W (every VAE conv), a row of taps is one window of PW + 2 loads.
 * Shapes, strides and offsets are uniforms: a handful of pipelines (COB × window/generic × dtypes) serve every conv.
 * Channels past Co are zero weights and not stored; Ci·taps beyond one uniform block is split into Ci chunks whose
 * dispatches accumulate into the output.
 */

/** Positions along W per invocation. */
const PW = 4;
const THREADS = 64;
const MAX_GROUPS = 65535;
/** Floats in one uniform binding (64 KiB, WebGPU's default limit and lavapipe's maximum). */
const UNIFORM_FLOATS = 16384;
/** Uniform binding offsets must be multiples of 256 bytes. */
const ALIGN_FLOATS = 64;

const PARAMS = `struct Params {
  co: u32, ci_n: u32, taps: u32, wb: u32,
  kt: u32, kh: u32, kw: u32, accumulate: u32,
  ti: i32, hi: i32, wi: i32, ci0: u32,
  to: u32, ho: u32, wo: u32, b_off: u32,
  st: u32, sh: u32, sw: u32, x_off: u32,
  dt: u32, dh: u32, dw: u32, xs_b: u32,
  pt: i32, ph: i32, pw: i32, xs_c: u32,
  xs_t: u32, xs_h: u32, xs_w: u32, b_stride: u32,
  co0: u32, bs4: u32, n: u32, pad0: u32,
}`;

const PACK_PARAMS = `struct Params {
  co: u32, ci: u32, taps: u32, cc: u32,
  groups: u32, bs: u32, total: u32, w_off: u32,
}`;

interface Plan {
  /** Output channels per invocation (4 or 8). */
  cob: number;
  /** Ci per uniform block, and how many such chunks. */
  cc: number;
  chunks: number;
  /** Channel groups (of cob), floats per (chunk, group) block, and groups per uniform window. */
  groups: number;
  bs: number;
  perWindow: number;
  /** Window of 6 loads per tap row (kw 3, stride 1, dilation 1 along W). */
  window: boolean;
}

function plan(g: SmallConvGeometry): Plan | undefined {
  const cob = g.co <= 4 ? 4 : 8;
  const taps = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const cc = Math.min(g.ci, Math.floor(UNIFORM_FLOATS / (taps * cob)));
  if (cc < 1) return undefined;
  const chunks = Math.ceil(g.ci / cc);
  const groups = Math.ceil(g.co / cob);
  const bs = Math.ceil((cc * taps * cob) / ALIGN_FLOATS) * ALIGN_FLOATS;
  const perWindow = Math.max(1, Math.floor(UNIFORM_FLOATS / bs));
  const window = g.kernel[2] === 3 && g.stride[2] === 1 && g.dilation[2] === 1;
  return { cob, cc, chunks, groups, bs, perWindow, window };
}

/** Whether this kernel can run the convolution (grid and uniform blocks within limits). */
export function directConvApplies(g: SmallConvGeometry): boolean {
  const wb = Math.ceil(g.output[2] / PW);
  const threads = wb * g.output[1] * g.output[0];
  return g.nb <= MAX_GROUPS && Math.ceil(threads / THREADS) <= MAX_GROUPS && plan(g) !== undefined;
}

function packWgsl(w: Tensor): string {
  return `${header([w.dtype])}
@group(0) @binding(0) var<storage, read_write> packed: array<f32>;
${binding(1, "w", w.dtype, false)}
${loader("w", w.dtype)}
${PACK_PARAMS}
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${THREADS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * ${MAX_GROUPS}u + wid.x) * ${THREADS}u + lid;
  if (e >= p.total) { return; }
  let block = e / p.bs;
  let within = e % p.bs;
  let chunk = block / p.groups;
  let group = block % p.groups;
  let per_ci = p.taps * COB_PLACEHOLDER;
  let cil = within / per_ci;
  let tap = (within / COB_PLACEHOLDER) % p.taps;
  let co = group * COB_PLACEHOLDER + within % COB_PLACEHOLDER;
  let ci = chunk * p.cc + cil;
  var v = 0.0;
  if (cil < p.cc && ci < p.ci && co < p.co) { v = ld_w(p.w_off + (co * p.ci + ci) * p.taps + tap); }
  packed[e] = v;
}`;
}

function convWgsl(
  x: Tensor,
  bias: Tensor | undefined,
  cob: number,
  window: boolean,
  sg: boolean,
  accumulate: boolean,
): string {
  const G = cob / 4;
  const gs = [...Array(G).keys()];
  const ps = [...Array(PW).keys()];
  const decls = [
    header([x.dtype, ...(bias ? [bias.dtype] : [])]),
    binding(0, "out", "f32", true),
    `@group(0) @binding(1) var<uniform> wu: array<vec4<f32>, ${UNIFORM_FLOATS / 4}>;`,
    binding(2, "x", x.dtype, false),
    loader("x", x.dtype),
  ];
  if (bias) decls.push(binding(3, "bias", bias.dtype, false), loader("bias", bias.dtype));
  decls.push(PARAMS, `@group(0) @binding(${bias ? 4 : 3}) var<uniform> p: Params;`);
  const accs = gs.flatMap((g) => ps.map((q) => `var a${g}_${q} = vec4<f32>(0.0);`)).join(" ");
  // One tap (weights at vec4 index `wi`) applied to the PW inputs v(q).
  const tap = (wi: string, v: (q: number) => string): string =>
    gs
      .map(
        (g) =>
          `{ let wv = wu[${wi} + ${g}u]; ${ps.map((q) => `a${g}_${q} = fma(vec4<f32>(${v(q)}), wv, a${g}_${q});`).join(" ")} }`,
      )
      .join("\n          ");
  // Window: input columns w0 + j (j < PW + 2), clamped, with their masks; taps d = 0..2 read v(q + d).
  const nwin = PW + 2;
  const winSetup = window
    ? [...Array(nwin).keys()]
        .map(
          (j) =>
            `let cw${j} = u32(clamp(w0 + ${j}, 0, p.wi - 1)) * p.xs_w; let mw${j} = w0 + ${j} >= 0 && w0 + ${j} < p.wi;`,
        )
        .join("\n  ")
    : "";
  // With subgroups, lane l < 3·G loads vec4 l of the row's weights once and subgroupBroadcast hands each to every
  // lane (an extract and a splat), instead of every lane gathering all 3·G vec4s from the uniform.
  const tapSg = (d: number, v: (q: number) => string): string =>
    gs
      .map(
        (g) =>
          `{ let wv = subgroupBroadcast(wl, ${d * G + g}u); ${ps.map((q) => `a${g}_${q} = fma(vec4<f32>(${v(q)}), wv, a${g}_${q});`).join(" ")} }`,
      )
      .join("\n          ");
  const row = window
    ? `${[...Array(nwin).keys()].map((j) => `let v${j} = select(0.0, ld_x(xr + cw${j}), m && mw${j});`).join(" ")}
          ${sg ? `let wl = wu[kr + min(lane, ${3 * G - 1}u)];` : ""}
          ${[0, 1, 2].map((d) => (sg ? tapSg(d, (q) => `v${q + d}`) : tap(`kr + ${d * G}u`, (q) => `v${q + d}`))).join("\n          ")}`
    : `for (var d = 0u; d < p.kw; d++) {
            let wd = w0 + i32(d * p.dw);
            ${ps
              .map((q) => {
                const iw = `(wd + ${q}i * i32(p.sw))`;
                return `let v${q} = select(0.0, ld_x(xr + u32(clamp(${iw}, 0, p.wi - 1)) * p.xs_w), m && ${iw} >= 0 && ${iw} < p.wi);`;
              })
              .join(" ")}
            ${tap(`kr + d * ${G}u`, (q) => `v${q}`)}
          }`;
  const stores = gs
    .flatMap((g) =>
      [0, 1, 2, 3].map((c) => {
        const ch = `o${g * 4 + c}`;
        return `{ let ${ch} = cbase + ${g * 4 + c}u; if (live && ${ch} < p.co) {
    let row = (bi * p.co + ${ch}) * p.n + pos;
    ${bias ? `let bv = ld_bias(p.b_off + ${ch} * p.b_stride);` : "let bv = 0.0;"}
    ${ps.map((q) => `if (ow0 + ${q}u < p.wo) { out[row + ${q}u] = a${g}_${q}[${c}] + bv${accumulate ? ` + out[row + ${q}u]` : ""}; }`).join("\n    ")}
  } }`;
      }),
    )
    .join("\n  ");
  // Past the last position, lanes compute on clamped positions and store nothing (subgroup ops need every lane).
  return `${sg ? "enable subgroups;\n" : ""}${decls.join("\n")}
@compute @workgroup_size(${THREADS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32${sg ? ", @builtin(subgroup_invocation_id) lane: u32" : ""}) {
  let e_raw = wid.x * ${THREADS}u + lid;
  let live = e_raw < p.wb * p.ho * p.to;
  let e = min(e_raw, p.wb * p.ho * p.to - 1u);
  let bi = wid.z;
  let ow0 = (e % p.wb) * ${PW}u;
  let o_h = (e / p.wb) % p.ho;
  let o_t = e / (p.wb * p.ho);
  let pos = (o_t * p.ho + o_h) * p.wo + ow0;
  let t0 = i32(o_t * p.st) - p.pt; let h0 = i32(o_h * p.sh) - p.ph; let w0 = i32(ow0 * p.sw) - p.pw;
  ${winSetup}
  // This workgroup row's block of weights: vec4 index (ci·taps + tap)·G + g.
  let kb = wid.y * p.bs4;
  let cbase = p.co0 + wid.y * ${cob}u;
  ${accs}
  for (var c = 0u; c < p.ci_n; c++) {
    let xc = p.x_off + bi * p.xs_b + (p.ci0 + c) * p.xs_c;
    for (var a = 0u; a < p.kt; a++) {
      let it = t0 + i32(a * p.dt);
      let xt = xc + u32(clamp(it, 0, p.ti - 1)) * p.xs_t;
      let mt = it >= 0 && it < p.ti;
      for (var b = 0u; b < p.kh; b++) {
        let ih = h0 + i32(b * p.dh);
        let xr = xt + u32(clamp(ih, 0, p.hi - 1)) * p.xs_h;
        let m = mt && ih >= 0 && ih < p.hi;
        let kr = kb + ((c * p.kt + a) * p.kh + b) * p.kw * ${G}u;
        ${row}
      }
    }
  }
  ${stores}
}`;
}

/**
 * The packed weights go to one buffer per runtime, reused conv after conv (dispatches run in order, so a pack
 * overwrites it only after the previous conv has read it). It is not a pool buffer: a VAE's activation plan
 * (ltx-model's planVideoVaeMemory) is exactly what the pool hands out. When a larger one is needed the old one is
 * left to the garbage collector, since recorded but unsubmitted dispatches may still bind it.
 */
const scratch = new WeakMap<Runtime, GPUBuffer>();

function scratchBuffer(runtime: Runtime, bytes: number): GPUBuffer {
  let buffer = scratch.get(runtime);
  if (!buffer || buffer.size < bytes) {
    buffer = runtime.device.createBuffer({ size: Math.ceil(bytes / 256) * 256, usage: STORAGE_USAGE });
    scratch.set(runtime, buffer);
  }
  return buffer;
}

const kernels = new Map<string, string>();

function memo(key: string, make: () => string): string {
  let code = kernels.get(key);
  if (code === undefined) {
    code = make();
    kernels.set(key, code);
  }
  return code;
}

/**
 * out [nb, Co, To·Ho·Wo] (f32, contiguous) = conv(x, w) + bias, with `w` a contiguous [Co, Ci·kt·kh·kw] view and x
 * [nb, Ci, T, H, W] any strides. Call only when `directConvApplies(g)`.
 */
export function directConvForward(x: Tensor, w: Tensor, bias: Tensor | undefined, g: SmallConvGeometry): Tensor {
  const pl = plan(g)!;
  const runtime = x.storage.runtime;
  const [kt, kh, kw] = g.kernel;
  const taps = kt * kh * kw;
  const n = g.output[0] * g.output[1] * g.output[2];
  const out = empty([g.nb, g.co, n], "f32");
  // Packed weights, plus one uniform window of slack so every 64 KiB binding stays inside the buffer.
  const total = pl.chunks * pl.groups * pl.bs;
  const packedBuffer = scratchBuffer(runtime, (total + UNIFORM_FLOATS) * 4);
  const packCode = memo(`pack ${w.dtype} ${pl.cob}`, () => packWgsl(w).replaceAll("COB_PLACEHOLDER", `${pl.cob}u`));
  const packGroups = Math.ceil(total / THREADS);
  runtime.dispatch(
    packCode,
    [{ buffer: packedBuffer, size: total * 4 }, bindingOf(w)],
    [Math.min(packGroups, MAX_GROUPS), Math.ceil(packGroups / MAX_GROUPS)],
    new Uint32Array([g.co, g.ci, taps, pl.cc, pl.groups, pl.bs, total, w.offset]).buffer,
  );
  const lanes = panelSubgroup(runtime);
  const sg = pl.window && lanes !== undefined && lanes >= (3 * pl.cob) / 4;
  // Ci chunks after the first add to the output (a pipeline of their own, compiled only for Ci·taps past 64 KiB).
  const code = (accumulate: boolean) =>
    memo(`conv ${x.dtype} ${accumulate ? undefined : bias?.dtype} ${pl.cob} ${pl.window} ${sg} ${accumulate}`, () =>
      convWgsl(x, accumulate ? undefined : bias, pl.cob, pl.window, sg, accumulate),
    );
  const wb = Math.ceil(g.output[2] / PW);
  const groupsX = Math.ceil((wb * g.output[1] * g.output[0]) / THREADS);
  for (let chunk = 0; chunk < pl.chunks; chunk++) {
    const ciN = Math.min(pl.cc, g.ci - chunk * pl.cc);
    for (let g0 = 0; g0 < pl.groups; g0 += pl.perWindow) {
      const rows = Math.min(pl.perWindow, pl.groups - g0);
      const words = new Uint32Array(36);
      const ints = new Int32Array(words.buffer);
      words.set([g.co, ciN, taps, wb, kt, kh, kw, chunk > 0 ? 1 : 0], 0);
      ints.set(g.input, 8);
      words[11] = chunk * pl.cc;
      words.set([...g.output, bias ? bias.offset : 0], 12);
      words.set([...g.stride, x.offset], 16);
      words.set([...g.dilation, x.strides[0]!], 20);
      ints.set(
        g.pad.map((p) => p[0]),
        24,
      );
      words[27] = x.strides[1]!;
      words.set([x.strides[2]!, x.strides[3]!, x.strides[4]!, bias ? bias.strides[0]! : 0], 28);
      words.set([g0 * pl.cob, pl.bs / 4, n, 0], 32);
      const window = {
        buffer: packedBuffer,
        offset: (chunk * pl.groups + g0) * pl.bs * 4,
        size: UNIFORM_FLOATS * 4,
      };
      // The first chunk adds the bias; the others add to the output.
      const buffers = [bindingOf(out), window, bindingOf(x), ...(bias && chunk === 0 ? [bindingOf(bias)] : [])];
      runtime.dispatch(code(chunk > 0), buffers, [groupsX, rows, g.nb], words.buffer);
    }
  }
  return out;
}
