/**
 * WGSL kernels of the conv video VAE. Activations are channel-major [C, D, H, W] float32 (one
 * batch item at a time), so "the first C channels" is a prefix of the buffer.
 */

/** Output tile of the conv: 32 output channels × 32 positions, K stepped by 16; 8×8 threads, 4×4 each. */
export const CONV_TILE = 32;
/** Workgroups along x before the dispatch wraps into z (maxComputeWorkgroupsPerDimension is ≥ 65535). */
export const MAX_GROUPS_X = 32768;

/**
 * conv3d as an implicit GEMM: out[o, p] = bias[o] + Σ_k w[o, k] · im2col[k, p] (+ residual[o, p]),
 * kernel (kd, kh, kw), stride (1, sh, sw). Time is padded by replicating edge frames (clamped index:
 * `padBefore` in front; the output has `dOut` frames); height and width are zero-padded
 * (`padH`/`padW` before; what lies past the end reads as zero).
 */
export const CONV3D_WGSL = /* wgsl */ `
struct Params {
  C: u32, D: u32, H: u32, W: u32, O: u32, dOut: u32, padBefore: u32, hasResidual: u32, tilesN: u32,
  kd: u32, kh: u32, kw: u32, sh: u32, sw: u32, padH: u32, padW: u32, Ho: u32, Wo: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> u: Params;

var<workgroup> As: array<array<f32, 32>, 16>;
var<workgroup> Bs: array<array<f32, 32>, 16>;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let tileN = wg.z * ${MAX_GROUPS_X}u + wg.x;
  if (tileN >= u.tilesN) { return; }
  let m0 = wg.y * 32u;
  let n0 = tileN * 32u;
  let khw = u.kh * u.kw;
  let K = u.C * u.kd * khw;
  let HWo = u.Ho * u.Wo;
  let P = u.dOut * HWo;
  // Each thread always loads the same A row offset (li % 16) and the same B column (li % 32):
  // its output position is decoded once, outside the K loop.
  let aCol = li % 16u;
  let bCol = li % 32u;
  let gn = n0 + bCol;
  let z = gn / HWo;
  let rem = gn % HWo;
  let oy = i32((rem / u.Wo) * u.sh) - i32(u.padH);
  let ox = i32((rem % u.Wo) * u.sw) - i32(u.padW);
  let kvol = u.kd * khw;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < K; k0 = k0 + 16u) {
    for (var i = 0u; i < 8u; i = i + 1u) {
      let mm = li / 16u + i * 4u;
      let gm = m0 + mm;
      let gk = k0 + aCol;
      var a = 0.0;
      if (gm < u.O && gk < K) { a = w[gm * K + gk]; }
      As[aCol][mm] = a;
    }
    for (var i = 0u; i < 8u; i = i + 1u) {
      let kk = li / 32u + i * 2u;
      let gk = k0 + kk;
      var v = 0.0;
      if (gk < K && gn < P) {
        let c = gk / kvol;
        let r = gk % kvol;
        let iz = clamp(i32(z + r / khw) - i32(u.padBefore), 0, i32(u.D) - 1);
        let iy = oy + i32((r / u.kw) % u.kh);
        let ix = ox + i32(r % u.kw);
        if (iy >= 0 && iy < i32(u.H) && ix >= 0 && ix < i32(u.W)) {
          v = x[((c * u.D + u32(iz)) * u.H + u32(iy)) * u.W + u32(ix)];
        }
      }
      Bs[kk][bCol] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      var a4: array<f32, 4>;
      var b4: array<f32, 4>;
      for (var i = 0u; i < 4u; i = i + 1u) {
        a4[i] = As[kk][lid.y * 4u + i];
        b4[i] = Bs[kk][lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = acc[i][j] + a4[i] * b4[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let gm = m0 + lid.y * 4u + i;
    if (gm >= u.O) { continue; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let gn = n0 + lid.x * 4u + j;
      if (gn >= P) { continue; }
      var v = acc[i][j] + bias[gm];
      if (u.hasResidual != 0u) { v = v + residual[gm * P + gn]; }
      out[gm * P + gn] = v;
    }
  }
}
`;

/** PixelNorm over channels then SiLU, one thread per position: x / sqrt(mean_c x² + eps), then x·σ(x). */
export const PIXEL_NORM_SILU_WGSL = /* wgsl */ `
struct Params { C: u32, P: u32, eps: f32, applySilu: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.y * nwg.x * 64u + gid.x;
  if (p >= u.P) { return; }
  var s = 0.0;
  for (var c = 0u; c < u.C; c = c + 1u) { let v = x[c * u.P + p]; s = s + v * v; }
  let inv = inverseSqrt(s / f32(u.C) + u.eps);
  for (var c = 0u; c < u.C; c = c + 1u) {
    var v = x[c * u.P + p] * inv;
    if (u.applySilu != 0u) { v = v / (1.0 + exp(-v)); }
    out[c * u.P + p] = v;
  }
}
`;

/**
 * Index-mapping kernels, one thread per output element. Each computes the source index of its
 * element; \`MAP\` is spliced in per kernel.
 */
function elementwise(params: string, bindings: string, body: string): string {
  return /* wgsl */ `
struct Params { ${params} }
${bindings}
@group(0) @binding(9) var<uniform> u: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.y * nwg.x * 64u + gid.x;
  if (idx >= u.total) { return; }
  ${body}
}
`;
}

/**
 * The VAE patchify [C, F, H·p, W·p] -> [C·p², F, H, W] (channel c·p² + wOffset·p + hOffset) and,
 * with \`inverse\`, unpatchify. \`total\` counts elements; dims are the low-resolution side.
 */
export const PATCHIFY_WGSL = elementwise(
  "total: u32, C: u32, F: u32, H: u32, W: u32, p: u32, inverse: u32",
  `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
  `// idx enumerates the patchified layout [C·p², F, H, W].
  let hw = u.H * u.W;
  let pp = u.p * u.p;
  let ch = idx / (u.F * hw);
  let rest = idx % (u.F * hw);
  let f = rest / hw;
  let y = (rest % hw) / u.W;
  let t = rest % u.W;
  let c = ch / pp;
  let wo = (ch % pp) / u.p;
  let ho = ch % u.p;
  let big = ((c * u.F + f) * u.H * u.p + y * u.p + ho) * u.W * u.p + t * u.p + wo;
  if (u.inverse == 0u) { out[idx] = x[big]; } else { out[big] = x[idx]; }`,
);

/**
 * SpaceToDepthDownsample's output: space_to_depth(conv) + mean over \`g\` consecutive channels of
 * space_to_depth(x with frame 0 duplicated when the time stride is 2). \`conv\` already has the extra frame.
 * Dims: x [Cin, D, H, W], output [Cout, Dl, Hl, Wl], strides (s1, s2, s3).
 */
export const SPACE_TO_DEPTH_WGSL = elementwise(
  "total: u32, Cin: u32, D: u32, H: u32, W: u32, Dl: u32, Hl: u32, Wl: u32, s1: u32, s2: u32, s3: u32, g: u32, dup: u32",
  `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> conv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;`,
  `let plane = u.Hl * u.Wl;
  let k = idx / (u.Dl * plane);
  let rest = idx % (u.Dl * plane);
  let z = rest / plane;
  let y = (rest % plane) / u.Wl;
  let t = rest % u.Wl;
  let prod = u.s1 * u.s2 * u.s3;
  let Dd = u.D + u.dup;
  // main: channel k of space_to_depth(conv), conv is [Cout/prod, D + dup, H, W].
  let c = k / prod;
  let sub = k % prod;
  let fz = z * u.s1 + sub / (u.s2 * u.s3);
  let fy = y * u.s2 + (sub / u.s3) % u.s2;
  let fx = t * u.s3 + sub % u.s3;
  var v = conv[((c * Dd + fz) * u.H + fy) * u.W + fx];
  var s = 0.0;
  for (var j = 0u; j < u.g; j = j + 1u) {
    let kk = k * u.g + j;
    let c2 = kk / prod;
    let sub2 = kk % prod;
    let gz = z * u.s1 + sub2 / (u.s2 * u.s3);
    let gy = y * u.s2 + (sub2 / u.s3) % u.s2;
    let gx = t * u.s3 + sub2 % u.s3;
    let src = select(gz - u.dup, 0u, gz < u.dup);
    s = s + x[((c2 * u.D + src) * u.H + gy) * u.W + gx];
  }
  out[idx] = v + s / f32(u.g);`,
);

/**
 * DepthToSpaceUpsample's output: depth_to_space(conv) with the first frame dropped when the time
 * stride is 2 (\`drop\`), plus, when \`residual\`, depth_to_space(x) tiled over channels.
 * conv [Cout·prod, D, H, W], x [Cin, D, H, W], output [Cout, D·s1 - drop, H·s2, W·s3].
 */
export const DEPTH_TO_SPACE_WGSL = elementwise(
  "total: u32, Cin: u32, D: u32, H: u32, W: u32, Do: u32, s1: u32, s2: u32, s3: u32, drop: u32, residual: u32",
  `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> conv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;`,
  `let Ho = u.H * u.s2;
  let Wo = u.W * u.s3;
  let plane = Ho * Wo;
  let c = idx / (u.Do * plane);
  let rest = idx % (u.Do * plane);
  let Z = rest / plane + u.drop;
  let Y = (rest % plane) / Wo;
  let X = rest % Wo;
  let sub = ((Z % u.s1) * u.s2 + Y % u.s2) * u.s3 + X % u.s3;
  let prod = u.s1 * u.s2 * u.s3;
  let z = Z / u.s1;
  let y = Y / u.s2;
  let t = X / u.s3;
  var v = conv[(((c * prod + sub) * u.D + z) * u.H + y) * u.W + t];
  if (u.residual != 0u) {
    let cr = (c % (u.Cin / prod)) * prod + sub;
    v = v + x[((cr * u.D + z) * u.H + y) * u.W + t];
  }
  out[idx] = v;`,
);

/**
 * Per-channel statistics over [C, P]: (x - mean) / std, or x·std + mean with \`inverse\`. The statistic
 * of element (c, p) is number c·F + p mod F: F = 1 for video channels, the mel bins for audio latents
 * (whose statistics run over patchified channel × mel features).
 */
export const CHANNEL_STATS_WGSL = elementwise(
  "total: u32, P: u32, inverse: u32, F: u32",
  `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> meanOf: array<f32>;
@group(0) @binding(2) var<storage, read> stdOf: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;`,
  `let c = (idx / u.P) * u.F + idx % u.F;
  if (u.inverse == 0u) { out[idx] = (x[idx] - meanOf[c]) / stdOf[c]; } else { out[idx] = x[idx] * stdOf[c] + meanOf[c]; }`,
);
