import type { ConnectorConfig } from "./config.js";

const f32 = Math.fround;

/**
 * The RoPE frequency grid θ^(k/(n-1))·π/2 for n = inner/2 frequencies. Released checkpoints build it
 * in float64 (`generate_freq_grid_np`) before the float32 cast; a float32 grid shifts contexts by ~1e-5.
 */
export function ropeFrequencyGrid(config: ConnectorConfig): Float32Array {
  const n = (config.heads * config.headDim) / 2;
  const grid = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const exponent = n === 1 ? 0 : k / (n - 1);
    grid[k] = config.doublePrecisionRope
      ? (config.theta ** exponent * Math.PI) / 2
      : f32(f32(f32(config.theta ** f32(exponent)) * f32(Math.PI)) / 2);
  }
  return grid;
}

/** Split-RoPE cos/sin tables [heads, T, headDim/2] for 1-D positions 0..T-1 (float32 arithmetic, as upstream). */
export function connectorRopeTables(config: ConnectorConfig, seqLen: number): { cos: Float32Array; sin: Float32Array } {
  const grid = ropeFrequencyGrid(config);
  const half = config.headDim / 2;
  const maxPos = config.maxPos[0]!;
  const cos = new Float32Array(config.heads * seqLen * half);
  const sin = new Float32Array(cos.length);
  for (let t = 0; t < seqLen; t++) {
    const centred = f32(f32(f32(t / maxPos) * 2) - 1);
    for (let h = 0; h < config.heads; h++) {
      for (let j = 0; j < half; j++) {
        const angle = f32(grid[h * half + j]! * centred);
        cos[(h * seqLen + t) * half + j] = Math.cos(angle);
        sin[(h * seqLen + t) * half + j] = Math.sin(angle);
      }
    }
  }
  return { cos, sin };
}
