import type { Backend } from "./backend.js";
import { audioInnerDim, type LtxTransformerConfig, videoInnerDim } from "./config.js";
import { scaleTimesteps, splitRopeTables, TIMESTEP_FEATURES, timestepSinusoid } from "./embeddings.js";
import { type AttentionModuleName, attentionShape } from "./layout.js";
import { loraKeyA, loraKeyB } from "./lora.js";

/** One stream's inputs for a forward pass (batch 1: the official a2v trainer's batch size). */
export interface ModalityInput {
  /** Patchified latent tokens `[T, in_channels]`. */
  tokens: Float32Array;
  /** Per-token σ `[T]` (σ · denoise mask: conditioning tokens 0). */
  timesteps: Float32Array;
  /** The modality's σ (0 for a frozen modality); drives the prompt AdaLN and the other stream's A↔V gate. */
  sigma: number;
  /** `[nPos, T, 2]` `[start, end)` bounds: video (time s, y px, x px), audio (time s). */
  positions: Float32Array;
  /** Text context `[S, context_dim]`, already at the model width (LTX-2.3 connectors). */
  context: Float32Array;
}

/** Spatio-temporal guidance and modality-isolation hooks, per block index. */
export interface Perturbations {
  /** Blocks whose video self-attention output is replaced by its value projection (STG). */
  skipVideoSelfAttention?: readonly number[];
  skipAudioSelfAttention?: readonly number[];
  /** Blocks whose audio→video / video→audio cross-attention update is dropped. */
  skipAudioToVideo?: readonly number[];
  skipVideoToAudio?: readonly number[];
}

/** Active LoRA adapters: module name → scale (alpha/rank); the backend holds `lora_A`/`lora_B`. */
export interface ActiveLora {
  modules: ReadonlySet<string>;
  scale: number;
}

export interface ForwardOptions {
  lora?: ActiveLora;
  perturbations?: Perturbations;
  /** Recompute each block in backward instead of keeping its activations (backends with `runBlock`). */
  gradientCheckpointing?: boolean;
  /** Called after each block with its index (progress). */
  onBlock?: (index: number) => void;
}

interface StreamArgs<T> {
  x: T;
  context: T;
  /** AdaLN values `[T, rows·D]`. */
  ada: T;
  embedded: T;
  /** `[1, 2·D]` prompt AdaLN (cross-attention AdaLN), or null. */
  prompt: T | null;
  cos: T;
  sin: T;
  crossCos: T;
  crossSin: T;
  /** `[T, 4·D]` A↔V scale/shift values (own timesteps). */
  crossScaleShift: T;
  /** `[1, D]` A↔V gate values (the other stream's σ). */
  crossGate: T;
  dim: number;
  heads: number;
}

/**
 * The LTX-2.x audio-video DiT forward (upstream `LTXModel.forward` at 400fd31), generic over the
 * backend. Returns the velocity predictions `[Tv, out_channels]` and `[Ta, audio_out_channels]`.
 */
export function ltxForward<T>(
  b: Backend<T>,
  config: LtxTransformerConfig,
  video: ModalityInput,
  audio: ModalityInput,
  options: ForwardOptions = {},
): { video: T; audio: T } {
  const dv = videoInnerDim(config);
  const da = audioInnerDim(config);
  const crossMaxPos = Math.max(config.positionalEmbeddingMaxPos[0]!, config.audioPositionalEmbeddingMaxPos[0]!);
  const v = prepareStream(b, config, video, audio.sigma, {
    prefix: "",
    crossScaleShift: "av_ca_video_scale_shift_adaln_single",
    crossGate: "av_ca_a2v_gate_adaln_single",
    dim: dv,
    heads: config.numAttentionHeads,
    inChannels: config.inChannels,
    contextDim: config.crossAttentionDim,
    maxPos: config.positionalEmbeddingMaxPos,
    crossMaxPos,
  });
  const a = prepareStream(b, config, audio, video.sigma, {
    prefix: "audio_",
    crossScaleShift: "av_ca_audio_scale_shift_adaln_single",
    crossGate: "av_ca_v2a_gate_adaln_single",
    dim: da,
    heads: config.audioNumAttentionHeads,
    inChannels: config.audioInChannels,
    contextDim: config.audioCrossAttentionDim,
    maxPos: config.audioPositionalEmbeddingMaxPos,
    crossMaxPos,
  });
  const p = options.perturbations ?? {};
  for (let i = 0; i < config.numLayers; i++) {
    const flags: BlockFlags = {
      lora: options.lora,
      skipVideoSelf: p.skipVideoSelfAttention?.includes(i) ?? false,
      skipAudioSelf: p.skipAudioSelfAttention?.includes(i) ?? false,
      skipA2V: p.skipAudioToVideo?.includes(i) ?? false,
      skipV2A: p.skipVideoToAudio?.includes(i) ?? false,
    };
    const run = (vx: T, ax: T) => block(b, config, i, v, a, vx, ax, flags);
    const out = b.runBlock ? b.runBlock(run, v.x, a.x, options.gradientCheckpointing ?? false) : run(v.x, a.x);
    v.x = out.vx;
    a.x = out.ax;
    options.onBlock?.(i);
  }
  return {
    video: outputProjection(b, config, "", v),
    audio: outputProjection(b, config, "audio_", a),
  };
}

interface StreamSpec {
  prefix: "" | "audio_";
  crossScaleShift: string;
  crossGate: string;
  dim: number;
  heads: number;
  inChannels: number;
  contextDim: number;
  maxPos: readonly number[];
  crossMaxPos: number;
}

/** AdaLN-single: sinusoid(t) → linear_1 → SiLU → linear_2 (= embedded) → SiLU → linear. */
function adalnSingle<T>(b: Backend<T>, key: string, scaledTimesteps: Float32Array): { values: T; embedded: T } {
  const sinusoid = b.constant(timestepSinusoid(scaledTimesteps), scaledTimesteps.length, TIMESTEP_FEATURES);
  const h = b.silu(
    b.linear(
      sinusoid,
      b.weight(`${key}.emb.timestep_embedder.linear_1.weight`),
      bias(b, `${key}.emb.timestep_embedder.linear_1`),
    ),
  );
  const embedded = b.linear(
    h,
    b.weight(`${key}.emb.timestep_embedder.linear_2.weight`),
    bias(b, `${key}.emb.timestep_embedder.linear_2`),
  );
  const values = b.linear(b.silu(embedded), b.weight(`${key}.linear.weight`), bias(b, `${key}.linear`));
  return { values, embedded };
}

function bias<T>(b: Backend<T>, module: string): T {
  return b.weight(`${module}.bias`);
}

function optionalBias<T>(b: Backend<T>, module: string, present: boolean): T | null {
  return present ? b.weight(`${module}.bias`) : null;
}

function prepareStream<T>(
  b: Backend<T>,
  config: LtxTransformerConfig,
  input: ModalityInput,
  otherSigma: number,
  spec: StreamSpec,
): StreamArgs<T> {
  const tokens = input.timesteps.length;
  const pfx = spec.prefix;
  const x = b.linear(
    b.constant(input.tokens, tokens, spec.inChannels),
    b.weight(`${pfx}patchify_proj.weight`),
    bias(b, `${pfx}patchify_proj`),
  );
  const ts = scaleTimesteps(input.timesteps, config.timestepScaleMultiplier);
  const { values: ada, embedded } = adalnSingle(b, `${pfx}adaln_single`, ts);
  const prompt =
    config.crossAttentionAdaln && config.usePromptAdalnSingle
      ? adalnSingle(b, `${pfx}prompt_adaln_single`, scaleTimesteps([input.sigma], config.timestepScaleMultiplier))
          .values
      : null;
  const contextRows = input.context.length / spec.contextDim;
  let context = b.constant(input.context, contextRows, spec.contextDim);
  if (config.captionChannels !== null) {
    const proj = `${pfx}caption_projection`;
    context = b.geluTanh(b.linear(context, b.weight(`${proj}.linear_1.weight`), bias(b, `${proj}.linear_1`)));
    context = b.linear(context, b.weight(`${proj}.linear_2.weight`), bias(b, `${proj}.linear_2`));
  }
  const nPos = spec.maxPos.length;
  const rope = splitRopeTables(input.positions, nPos, {
    dim: spec.dim,
    theta: config.positionalEmbeddingTheta,
    maxPos: spec.maxPos,
    useMiddle: config.useMiddleIndicesGrid,
    doublePrecision: config.doublePrecisionRope,
  });
  // A↔V RoPE: time axis only, over the cross-attention width, always from patch midpoints.
  const cross = splitRopeTables(input.positions.subarray(0, tokens * 2), 1, {
    dim: config.audioCrossAttentionDim,
    theta: config.positionalEmbeddingTheta,
    maxPos: [spec.crossMaxPos],
    useMiddle: true,
    doublePrecision: config.doublePrecisionRope,
  });
  const crossScaleShift = adalnSingle(b, spec.crossScaleShift, ts).values;
  const gateFactor = config.avCaTimestepScaleMultiplier / config.timestepScaleMultiplier;
  const gateTs = Float32Array.of(
    Math.fround(scaleTimesteps([otherSigma], config.timestepScaleMultiplier)[0]! * gateFactor),
  );
  const crossGate = adalnSingle(b, spec.crossGate, gateTs).values;
  return {
    x,
    context,
    ada,
    embedded,
    prompt,
    cos: b.constant(rope.cos, tokens, rope.width),
    sin: b.constant(rope.sin, tokens, rope.width),
    crossCos: b.constant(cross.cos, tokens, cross.width),
    crossSin: b.constant(cross.sin, tokens, cross.width),
    crossScaleShift,
    crossGate,
    dim: spec.dim,
    heads: spec.heads,
  };
}

/** `table[row] + values[:, row·D:(row+1)·D]` (upstream `get_ada_values`). */
function adaValue<T>(b: Backend<T>, table: T, values: T, row: number, dim: number): T {
  return b.add(b.sliceCols(values, row * dim, (row + 1) * dim), b.sliceRows(table, row, row + 1));
}

/** rms(x)·(1 + scale) + shift. */
function modulate<T>(b: Backend<T>, x: T, eps: number, scale: T, shift: T): T {
  return b.add(b.mul(b.rmsNorm(x, eps, null), b.affine(scale, 1, 1)), shift);
}

interface BlockFlags {
  lora: ActiveLora | undefined;
  skipVideoSelf: boolean;
  skipAudioSelf: boolean;
  skipA2V: boolean;
  skipV2A: boolean;
}

function block<T>(
  b: Backend<T>,
  config: LtxTransformerConfig,
  index: number,
  v: StreamArgs<T>,
  a: StreamArgs<T>,
  vxIn: T,
  axIn: T,
  flags: BlockFlags,
): { vx: T; ax: T } {
  const eps = config.normEps;
  const prefix = `transformer_blocks.${index}`;
  const attn = (
    name: AttentionModuleName,
    x: T,
    ctx: T | null,
    rope: RopePair<T> | null,
    kRope: RopePair<T> | null,
    skip: boolean,
  ) => attention(b, config, `${prefix}.${name}`, name, x, ctx, rope, kRope, skip, flags.lora);

  const selfAndText = (s: StreamArgs<T>, input: T, pfx: "" | "audio_", skipSelf: boolean): T => {
    const table = b.weight(`${prefix}.${pfx}scale_shift_table`);
    const shift = adaValue(b, table, s.ada, 0, s.dim);
    const scale = adaValue(b, table, s.ada, 1, s.dim);
    const gate = adaValue(b, table, s.ada, 2, s.dim);
    const selfName = pfx === "" ? "attn1" : "audio_attn1";
    const textName = pfx === "" ? "attn2" : "audio_attn2";
    const attnOut = attn(
      selfName,
      modulate(b, input, eps, scale, shift),
      null,
      { cos: s.cos, sin: s.sin },
      null,
      skipSelf,
    );
    let x = b.add(input, b.mul(attnOut, gate));
    const normed = b.rmsNorm(x, eps, null);
    if (config.crossAttentionAdaln) {
      const shiftQ = adaValue(b, table, s.ada, 6, s.dim);
      const scaleQ = adaValue(b, table, s.ada, 7, s.dim);
      const gateCa = adaValue(b, table, s.ada, 8, s.dim);
      // K/V modulation: per-block prompt table rows (shift, scale) + the σ-driven prompt AdaLN.
      const kvTable = b.weight(`${prefix}.${pfx}prompt_scale_shift_table`);
      let shiftKv = b.sliceRows(kvTable, 0, 1);
      let scaleKv = b.sliceRows(kvTable, 1, 2);
      if (s.prompt) {
        shiftKv = b.add(b.sliceCols(s.prompt, 0, s.dim), shiftKv);
        scaleKv = b.add(b.sliceCols(s.prompt, s.dim, 2 * s.dim), scaleKv);
      }
      const q = b.add(b.mul(normed, b.affine(scaleQ, 1, 1)), shiftQ);
      const ctx = b.add(b.mul(s.context, b.affine(scaleKv, 1, 1)), shiftKv);
      x = b.add(x, b.mul(attn(textName, q, ctx, null, null, false), gateCa));
    } else {
      x = b.add(x, attn(textName, normed, s.context, null, null, false));
    }
    return x;
  };

  let vx = selfAndText(v, vxIn, "", flags.skipVideoSelf);
  let ax = selfAndText(a, axIn, "audio_", flags.skipAudioSelf);

  // A↔V cross-attention: both directions read the pre-exchange states.
  const videoTable = b.weight(`${prefix}.scale_shift_table_a2v_ca_video`);
  const audioTable = b.weight(`${prefix}.scale_shift_table_a2v_ca_audio`);
  const avValues = (s: StreamArgs<T>, table: T, first: number) => ({
    scale: b.add(
      b.sliceCols(s.crossScaleShift, first * s.dim, (first + 1) * s.dim),
      b.sliceRows(table, first, first + 1),
    ),
    shift: b.add(
      b.sliceCols(s.crossScaleShift, (first + 1) * s.dim, (first + 2) * s.dim),
      b.sliceRows(table, first + 1, first + 2),
    ),
    gate: b.add(s.crossGate, b.sliceRows(table, 4, 5)),
  });
  const vPre = vx;
  const aPre = ax;
  if (!flags.skipA2V) {
    const vv = avValues(v, videoTable, 0);
    const av = avValues(a, audioTable, 0);
    const q = modulate(b, vPre, eps, vv.scale, vv.shift);
    const kv = modulate(b, aPre, eps, av.scale, av.shift);
    const out = attn(
      "audio_to_video_attn",
      q,
      kv,
      { cos: v.crossCos, sin: v.crossSin },
      { cos: a.crossCos, sin: a.crossSin },
      false,
    );
    vx = b.add(vx, b.mul(out, vv.gate));
  }
  if (!flags.skipV2A) {
    const av = avValues(a, audioTable, 2);
    const vv = avValues(v, videoTable, 2);
    const q = modulate(b, aPre, eps, av.scale, av.shift);
    const kv = modulate(b, vPre, eps, vv.scale, vv.shift);
    const out = attn(
      "video_to_audio_attn",
      q,
      kv,
      { cos: a.crossCos, sin: a.crossSin },
      { cos: v.crossCos, sin: v.crossSin },
      false,
    );
    ax = b.add(ax, b.mul(out, av.gate));
  }

  const feedForward = (s: StreamArgs<T>, x: T, pfx: "" | "audio_", hasBias: boolean): T => {
    const table = b.weight(`${prefix}.${pfx}scale_shift_table`);
    const shift = adaValue(b, table, s.ada, 3, s.dim);
    const scale = adaValue(b, table, s.ada, 4, s.dim);
    const gate = adaValue(b, table, s.ada, 5, s.dim);
    const ff = `${prefix}.${pfx}ff`;
    let h = loraLinear(b, `${ff}.net.0.proj`, modulate(b, x, eps, scale, shift), hasBias, flags.lora);
    h = b.geluTanh(h);
    h = loraLinear(b, `${ff}.net.2`, h, hasBias, flags.lora);
    return b.add(x, b.mul(h, gate));
  };
  vx = feedForward(v, vx, "", config.ffBias);
  ax = feedForward(a, ax, "audio_", config.audioFfBias);
  return { vx, ax };
}

interface RopePair<T> {
  cos: T;
  sin: T;
}

/** Linear with an optional LoRA delta: x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ. */
function loraLinear<T>(b: Backend<T>, module: string, x: T, hasBias: boolean, lora: ActiveLora | undefined): T {
  if (lora?.modules.has(module) && b.loraLinear) {
    const w = b.weight(`${module}.weight`);
    return b.loraLinear(
      x,
      w,
      optionalBias(b, module, hasBias),
      b.parameter(loraKeyA(module)),
      b.parameter(loraKeyB(module)),
      lora.scale,
    );
  }
  let y = b.linear(x, b.weight(`${module}.weight`), optionalBias(b, module, hasBias));
  if (lora?.modules.has(module)) {
    const down = b.linear(x, b.parameter(loraKeyA(module)), null);
    y = b.add(y, b.affine(b.linear(down, b.parameter(loraKeyB(module)), null), lora.scale, 0));
  }
  return y;
}

/** Upstream `Attention.forward`: q/k RMSNorm, RoPE, SDPA, per-head gate, to_out. */
function attention<T>(
  b: Backend<T>,
  config: LtxTransformerConfig,
  module: string,
  name: AttentionModuleName,
  x: T,
  context: T | null,
  rope: RopePair<T> | null,
  kRope: RopePair<T> | null,
  perturbed: boolean,
  lora: ActiveLora | undefined,
): T {
  const shape = attentionShape(config, name);
  const ctx = context ?? x;
  const value = loraLinear(b, `${module}.to_v`, ctx, true, lora);
  let out: T;
  if (perturbed) {
    out = value;
  } else {
    let q = b.rmsNorm(
      loraLinear(b, `${module}.to_q`, x, true, lora),
      config.normEps,
      b.weight(`${module}.q_norm.weight`),
    );
    let k = b.rmsNorm(
      loraLinear(b, `${module}.to_k`, ctx, true, lora),
      config.normEps,
      b.weight(`${module}.k_norm.weight`),
    );
    if (rope) {
      q = b.rope(q, rope.cos, rope.sin, shape.heads);
      const kr = kRope ?? rope;
      k = b.rope(k, kr.cos, kr.sin, shape.heads);
    }
    out = b.attention(q, k, value, shape.heads);
  }
  if (config.applyGatedAttention) {
    const logits = b.linear(x, b.weight(`${module}.to_gate_logits.weight`), bias(b, `${module}.to_gate_logits`));
    out = b.mulPerHead(out, b.affine(b.sigmoid(logits), 2, 0), shape.heads);
  }
  return loraLinear(b, `${module}.to_out.0`, out, true, lora);
}

/** LayerNorm (no affine) · (1 + scale) + shift with [shift, scale] = table + embedded timestep, then proj_out. */
function outputProjection<T>(b: Backend<T>, config: LtxTransformerConfig, pfx: "" | "audio_", s: StreamArgs<T>): T {
  const table = b.weight(`${pfx}scale_shift_table`);
  const shift = b.add(s.embedded, b.sliceRows(table, 0, 1));
  const scale = b.add(s.embedded, b.sliceRows(table, 1, 2));
  const x = b.add(b.mul(b.layerNorm(s.x, config.normEps), b.affine(scale, 1, 1)), shift);
  return b.linear(x, b.weight(`${pfx}proj_out.weight`), bias(b, `${pfx}proj_out`));
}
