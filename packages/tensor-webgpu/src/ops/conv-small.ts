import { binding, header, loader } from "../codegen.js";
import { empty, type Tensor } from "../tensor.js";
import { bindingOf } from "../window.js";

/**
 * Convolution forward on CPU adapters (lavapipe) with the geometry in a uniform. The implicit GEMM on the tiled
 * kernel bakes every shape, stride and padding into its WGSL, and Mesa/LLVM takes 2–3 s to compile each one; a VAE
 * has dozens of distinct convolutions, so a fresh shader cache spent minutes compiling before the first frame. Here
 * one pipeline per dtype combination serves every convolution. Each thread computes four output channels at one
 * output position, so one gathered input value serves four multiply-adds.
 */

/** The convolution as this kernel needs it (conv.ts's geometry). */
export interface SmallConvGeometry {
  nb: number;
  ci: number;
  co: number;
  input: [number, number, number];
  kernel: [number, number, number];
  output: [number, number, number];
  stride: [number, number, number];
  dilation: [number, number, number];
  pad: [[number, number], [number, number], [number, number]];
}

const THREADS = 64;
const MAX_GROUPS = 65535;

const PARAMS = `struct Params {
  co: u32, ci: u32, n: u32, k: u32,
  kt: u32, kh: u32, kw: u32, taps: u32,
  ti: i32, hi: i32, wi: i32, w_off: u32,
  to: u32, ho: u32, wo: u32, b_off: u32,
  st: u32, sh: u32, sw: u32, x_off: u32,
  dt: u32, dh: u32, dw: u32, xs_b: u32,
  pt: i32, ph: i32, pw: i32, xs_c: u32,
  xs_t: u32, xs_h: u32, xs_w: u32, b_stride: u32,
}`;

/** Whether this kernel can run the convolution (grid within limits). */
export function smallConvApplies(g: SmallConvGeometry): boolean {
  const n = g.output[0] * g.output[1] * g.output[2];
  return g.nb <= MAX_GROUPS && Math.ceil((Math.ceil(g.co / 4) * n) / THREADS) <= MAX_GROUPS;
}

function wgsl(x: Tensor, w: Tensor, bias: Tensor | undefined): string {
  const decls = [
    header([x.dtype, w.dtype, ...(bias ? [bias.dtype] : [])]),
    binding(0, "out", "f32", true),
    binding(1, "w", w.dtype, false),
    binding(2, "x", x.dtype, false),
    loader("w", w.dtype),
    loader("x", x.dtype),
  ];
  if (bias) decls.push(binding(3, "bias", bias.dtype, false), loader("bias", bias.dtype));
  decls.push(PARAMS, `@group(0) @binding(${bias ? 4 : 3}) var<uniform> p: Params;`);
  return `${decls.join("\n")}
@compute @workgroup_size(${THREADS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * ${THREADS}u + lid;
  if (e >= ((p.co + 3u) / 4u) * p.n) { return; }
  let pos = e % p.n;
  let co0 = (e / p.n) * 4u;
  let bi = wid.y;
  let o_w = pos % p.wo; let o_h = (pos / p.wo) % p.ho; let o_t = pos / (p.wo * p.ho);
  let t0 = i32(o_t * p.st) - p.pt; let h0 = i32(o_h * p.sh) - p.ph; let w0 = i32(o_w * p.sw) - p.pw;
  // Rows past Co read row Co - 1 (always in range) and are not stored.
  let rows = min(vec4<u32>(co0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.co - 1u)) * p.k + vec4<u32>(p.w_off);
  var acc = vec4<f32>(0.0);
  for (var c = 0u; c < p.ci; c++) {
    let xc = p.x_off + bi * p.xs_b + c * p.xs_c;
    let kc = c * p.taps;
    for (var a = 0u; a < p.kt; a++) {
      let it = t0 + i32(a * p.dt);
      if (it < 0 || it >= p.ti) { continue; }
      for (var b = 0u; b < p.kh; b++) {
        let ih = h0 + i32(b * p.dh);
        if (ih < 0 || ih >= p.hi) { continue; }
        let kab = kc + (a * p.kh + b) * p.kw;
        let xab = xc + u32(it) * p.xs_t + u32(ih) * p.xs_h;
        for (var d = 0u; d < p.kw; d++) {
          let iw = w0 + i32(d * p.dw);
          if (iw < 0 || iw >= p.wi) { continue; }
          let v = ld_x(xab + u32(iw) * p.xs_w);
          let kk = kab + d;
          acc = fma(vec4<f32>(v), vec4<f32>(ld_w(rows.x + kk), ld_w(rows.y + kk), ld_w(rows.z + kk), ld_w(rows.w + kk)), acc);
        }
      }
    }
  }
  for (var r = 0u; r < 4u; r++) {
    let o = co0 + r;
    if (o < p.co) {
      var v = acc[r];
      ${bias ? "v += ld_bias(p.b_off + o * p.b_stride);" : ""}
      out[(bi * p.co + o) * p.n + pos] = v;
    }
  }
}`;
}

const kernels = new Map<string, string>();

/**
 * out [nb, Co, To·Ho·Wo] (f32, contiguous) = conv(x, w) + bias, with `w` a contiguous [Co, Ci·kt·kh·kw] view and x
 * [nb, Ci, T, H, W] any strides.
 */
export function smallConvForward(x: Tensor, w: Tensor, bias: Tensor | undefined, g: SmallConvGeometry): Tensor {
  const n = g.output[0] * g.output[1] * g.output[2];
  const k = g.ci * g.kernel[0] * g.kernel[1] * g.kernel[2];
  const out = empty([g.nb, g.co, n], "f32");
  const key = `${x.dtype} ${w.dtype} ${bias?.dtype}`;
  let code = kernels.get(key);
  if (code === undefined) {
    code = wgsl(x, w, bias);
    kernels.set(key, code);
  }
  const words = new Uint32Array(32);
  const ints = new Int32Array(words.buffer);
  const [kt, kh, kw] = g.kernel;
  words.set([g.co, g.ci, n, k, kt, kh, kw, kt * kh * kw], 0);
  ints.set(g.input, 8);
  words[11] = w.offset;
  words.set([...g.output, bias ? bias.offset : 0], 12);
  words.set([...g.stride, x.offset], 16);
  words.set([...g.dilation, x.strides[0]!], 20);
  ints.set(
    g.pad.map((p) => p[0]),
    24,
  );
  words[27] = x.strides[1]!;
  words.set([x.strides[2]!, x.strides[3]!, x.strides[4]!, bias ? bias.strides[0]! : 0], 28);
  const buffers = [bindingOf(out), bindingOf(w), bindingOf(x), ...(bias ? [bindingOf(bias)] : [])];
  const groups = Math.ceil((Math.ceil(g.co / 4) * n) / THREADS);
  out.storage.runtime.dispatch(code, buffers, [groups, g.nb], words.buffer);
  return out;
}
