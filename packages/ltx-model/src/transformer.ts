import { A2VError } from "@a2v/errors";
import {
  add,
  checkpoint,
  gelu,
  layerNorm,
  matmul,
  mul,
  rmsNorm,
  scope,
  sigmoid,
  silu,
  slice,
  sub,
  Tensor,
} from "@a2v/tensor-webgpu";
import { audioInnerDim, type LtxTransformerConfig, videoInnerDim } from "./config.js";
import {
  distinctTimesteps,
  scaleTimesteps,
  splitRopeTables,
  TIMESTEP_FEATURES,
  timestepSinusoid,
} from "./embeddings.js";
import { type AttentionModuleName, attentionShape } from "./layout.js";
import { loraKeyA, loraKeyB } from "./lora.js";
import type { LtxTransformer } from "./ltx-transformer.js";
import { headAttention, headRope, mulPerHead, runBlock } from "./transformer-ops.js";

/**
 * One stream's inputs for a forward pass. Training runs batch 1 (the official a2v trainer's batch size);
 * validation stacks its guidance passes as a batch (`batch` examples in `tokens` and `context`, sharing
 * timesteps, σ and positions).
 */
export interface ModalityInput {
  /** Patchified latent tokens `[T, in_channels]`, or `[batch, T, in_channels]`. */
  tokens: Float32Array;
  /** Examples stacked in `tokens` and `context` (default 1). */
  batch?: number;
  /** Per-token σ `[T]` (σ · denoise mask: conditioning tokens 0). */
  timesteps: Float32Array;
  /** The modality's σ (0 for a frozen modality); drives the prompt AdaLN and the other stream's A↔V gate. */
  sigma: number;
  /** `[nPos, T, 2]` `[start, end)` bounds: video (time s, y px, x px), audio (time s). */
  positions: Float32Array;
  /** Text context `[S, context_dim]` (or `[batch, S, context_dim]`), already at the model width (LTX-2.3 connectors). */
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

/** Active LoRA adapters: module name → scale (alpha/rank); the `LtxTransformer` holds `lora_A`/`lora_B`. */
export interface ActiveLora {
  modules: ReadonlySet<string>;
  scale: number;
}

export interface ForwardOptions {
  lora?: ActiveLora;
  /** The same for every example, or one per example of a batch. */
  perturbations?: Perturbations | readonly Perturbations[];
  /**
   * Recompute each block in backward instead of keeping its activations; "sublayers" also checkpoints each
   * sub-layer inside the block (self/text attention, each A↔V direction, each feed-forward), so a block's backward
   * holds one sub-layer's activations at a time: less memory for one more forward of each sub-layer.
   */
  gradientCheckpointing?: boolean | "sublayers";
  /** Called after each block with its index (progress). */
  onBlock?: (index: number) => void;
}

interface StreamArgs {
  x: Tensor;
  context: Tensor;
  /** AdaLN values `[U, rows·D]`, one row per distinct timestep (see `TimestepRows`). */
  ada: Tensor;
  /** The embedded timestep `[U, D]`, per distinct timestep. */
  embedded: Tensor;
  /** Spreads per-timestep rows to the tokens (or null: the rows already broadcast over them). */
  spread: TimestepRows["spread"];
  /** `[1, 2·D]` prompt AdaLN (cross-attention AdaLN), or null. */
  prompt: Tensor | null;
  cos: Tensor;
  sin: Tensor;
  crossCos: Tensor;
  crossSin: Tensor;
  /** `[U, 4·D]` A↔V scale/shift values (own timesteps, per distinct timestep). */
  crossScaleShift: Tensor;
  /** `[1, D]` A↔V gate values (the other stream's σ). */
  crossGate: Tensor;
  dim: number;
  heads: number;
}

/**
 * The LTX-2.x audio-video DiT forward (upstream `LTXModel.forward` at 400fd31) on the tensor ops of
 * the weights' device (GPU or CPU). Returns the velocity predictions `[Tv, out_channels]` and `[Ta, audio_out_channels]`.
 */
export function ltxForward(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  video: ModalityInput,
  audio: ModalityInput,
  options: ForwardOptions = {},
): { video: Tensor; audio: Tensor } {
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
  const batch = video.batch ?? 1;
  const perExample = perturbationsPerExample(options.perturbations, batch);
  // Per block and hook: skipped for every example, for none, or for some (a keep factor per example).
  const skip = (hook: keyof Perturbations, i: number): Skip => {
    const skipped = perExample.map((p) => p[hook]?.includes(i) ?? false);
    if (skipped.every((x) => x === skipped[0])) return skipped[0]!;
    return b.constant(
      Float32Array.from(skipped, (x) => (x ? 0 : 1)),
      batch,
      1,
      1,
    );
  };
  for (let i = 0; i < config.numLayers; i++) {
    const flags: BlockFlags = {
      lora: options.lora,
      skipVideoSelf: skip("skipVideoSelfAttention", i),
      skipAudioSelf: skip("skipAudioSelfAttention", i),
      skipA2V: skip("skipAudioToVideo", i),
      skipV2A: skip("skipVideoToAudio", i),
      sublayers: options.gradientCheckpointing === "sublayers",
    };
    const run = (vx: Tensor, ax: Tensor) => block(b, config, i, v, a, vx, ax, flags);
    const out = runBlock(run, v.x, a.x, Boolean(options.gradientCheckpointing), b.checkpointDType);
    v.x = out.vx;
    a.x = out.ax;
    options.onBlock?.(i);
  }
  // Scoped like the helpers inside the blocks: what backward does not read is freed as soon as it is used.
  return {
    video: scope(() => outputProjection(b, config, "", v)),
    audio: scope(() => outputProjection(b, config, "audio_", a)),
  };
}

function perturbationsPerExample(
  perturbations: ForwardOptions["perturbations"],
  batch: number,
): readonly Perturbations[] {
  if (!Array.isArray(perturbations))
    return new Array<Perturbations>(batch).fill((perturbations as Perturbations) ?? {});
  if (perturbations.length !== batch) {
    throw new A2VError(
      "batch_mismatch",
      `${perturbations.length} perturbation sets were given for a batch of ${batch} examples`,
    );
  }
  return perturbations;
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
function adalnSingle(
  b: LtxTransformer,
  key: string,
  scaledTimesteps: Float32Array,
): { values: Tensor; embedded: Tensor } {
  // Scoped: its temporaries are freed now, not held for the whole step.
  return scope(() => adalnSingleRows(b, key, scaledTimesteps));
}

function adalnSingleRows(
  b: LtxTransformer,
  key: string,
  scaledTimesteps: Float32Array,
): { values: Tensor; embedded: Tensor } {
  const sinusoid = b.constant(timestepSinusoid(scaledTimesteps), scaledTimesteps.length, TIMESTEP_FEATURES);
  const h = silu(
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
  const values = b.linear(silu(embedded), b.weight(`${key}.linear.weight`), bias(b, `${key}.linear`));
  return { values, embedded };
}

function bias(b: LtxTransformer, module: string): Tensor {
  return b.weight(`${module}.bias`);
}

function optionalBias(b: LtxTransformer, module: string, present: boolean): Tensor | null {
  return present ? b.weight(`${module}.bias`) : null;
}

function prepareStream(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  input: ModalityInput,
  otherSigma: number,
  spec: StreamSpec,
): StreamArgs {
  const tokens = input.timesteps.length;
  const batch = input.batch ?? 1;
  // A batch stacks examples on a leading axis; batch 1 stays 2-D, as training runs it.
  const lead = batch > 1 ? [batch] : [];
  const pfx = spec.prefix;
  const x = b.linear(
    b.constant(input.tokens, ...lead, tokens, spec.inChannels),
    b.weight(`${pfx}patchify_proj.weight`),
    bias(b, `${pfx}patchify_proj`),
  );
  const ts = timestepRows(b, scaleTimesteps(input.timesteps, config.timestepScaleMultiplier));
  const { values: ada, embedded } = adalnSingle(b, `${pfx}adaln_single`, ts.distinct);
  const prompt =
    config.crossAttentionAdaln && config.usePromptAdalnSingle
      ? adalnSingle(b, `${pfx}prompt_adaln_single`, scaleTimesteps([input.sigma], config.timestepScaleMultiplier))
          .values
      : null;
  const contextRows = input.context.length / spec.contextDim / batch;
  let context = b.constant(input.context, ...lead, contextRows, spec.contextDim);
  if (config.captionChannels !== null) {
    const proj = `${pfx}caption_projection`;
    context = gelu(b.linear(context, b.weight(`${proj}.linear_1.weight`), bias(b, `${proj}.linear_1`)));
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
  const crossScaleShift = adalnSingle(b, spec.crossScaleShift, ts.distinct).values;
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
    spread: ts.spread,
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

/** The AdaLN rows of a stream's timesteps: `distinct` timesteps, and `spread` (one-hot `[T, U]`) or null (see `distinctTimesteps`). */
interface TimestepRows {
  distinct: Float32Array;
  spread: Tensor | null;
}

function timestepRows(b: LtxTransformer, timesteps: Float32Array): TimestepRows {
  const { distinct, oneHot } = distinctTimesteps(timesteps);
  return { distinct, spread: oneHot ? b.constant(oneHot, timesteps.length, distinct.length) : null };
}

/** Per-timestep rows `[U, W]` as per-token rows `[T, W]` (or as they are, broadcasting over the tokens). */
function perToken(rows: Tensor, spread: Tensor | null): Tensor {
  return spread ? matmul(spread, rows) : rows;
}

/**
 * `table[row] + values[:, row·D:(row+1)·D]` (upstream `get_ada_values`), per token; `values`: the stream's AdaLN
 * rows (default) or its A↔V scale/shift rows.
 */
function adaValue(s: StreamArgs, table: Tensor, row: number, values = s.ada): Tensor {
  const d = s.dim;
  return perToken(add(sliceCols(values, row * d, (row + 1) * d), sliceRows(table, row, row + 1)), s.spread);
}

/** Columns [start, end) of `[..., rows, cols]`. */
function sliceCols(a: Tensor, start: number, end: number): Tensor {
  return slice(a, -1, start, end);
}

/** Rows [start, end) of `[rows, cols]`. */
function sliceRows(a: Tensor, start: number, end: number): Tensor {
  return slice(a, 0, start, end);
}

/** RMSNorm over each row, optionally times a weight. */
function norm(x: Tensor, eps: number, weight: Tensor | null): Tensor {
  return rmsNorm(x, weight ?? undefined, { eps });
}

/**
 * rms(x)·(1 + scale) + shift with scale and shift the AdaLN rows `scaleRow`, `shiftRow` (see `adaValue`), in its own
 * scope: only what backward reads survives it.
 */
function modulate(
  x: Tensor,
  eps: number,
  s: StreamArgs,
  table: Tensor,
  scaleRow: number,
  shiftRow: number,
  values = s.ada,
): Tensor {
  return scope(() =>
    add(mul(norm(x, eps, null), add(adaValue(s, table, scaleRow, values), 1)), adaValue(s, table, shiftRow, values)),
  );
}

/** A hook skipped for every example (true), for none (false), or per example: a keep factor `[batch, 1, 1]` (0 = skip). */
type Skip = boolean | Tensor;

/** `update` where kept, nothing where skipped (per example for a keep factor). */
function keepWhere(skip: Skip, update: Tensor): Tensor {
  return skip instanceof Tensor ? mul(update, skip) : update;
}

interface BlockFlags {
  lora: ActiveLora | undefined;
  skipVideoSelf: Skip;
  skipAudioSelf: Skip;
  skipA2V: Skip;
  skipV2A: Skip;
  /** Checkpoint each sub-layer (see `ForwardOptions.gradientCheckpointing`). */
  sublayers: boolean;
}

function block(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  index: number,
  v: StreamArgs,
  a: StreamArgs,
  vxIn: Tensor,
  axIn: Tensor,
  flags: BlockFlags,
): { vx: Tensor; ax: Tensor } {
  const eps = config.normEps;
  const prefix = `transformer_blocks.${index}`;
  const attn = (
    name: AttentionModuleName,
    x: Tensor,
    ctx: Tensor | null,
    rope: RopePair | null,
    kRope: RopePair | null,
    skip: Skip,
  ) => scope(() => attention(b, config, `${prefix}.${name}`, name, x, ctx, rope, kRope, skip, flags.lora));

  const selfAndText = (s: StreamArgs, input: Tensor, pfx: "" | "audio_", skipSelf: Skip): Tensor => {
    const table = b.weight(`${prefix}.${pfx}scale_shift_table`);
    const selfName = pfx === "" ? "attn1" : "audio_attn1";
    const textName = pfx === "" ? "attn2" : "audio_attn2";
    const attnIn = modulate(input, eps, s, table, 1, 0);
    const attnOut = attn(selfName, attnIn, null, { cos: s.cos, sin: s.sin }, null, skipSelf);
    let x = add(input, mul(attnOut, adaValue(s, table, 2)));
    if (config.crossAttentionAdaln) {
      // K/V modulation: per-block prompt table rows (shift, scale) + the σ-driven prompt AdaLN.
      const kvTable = b.weight(`${prefix}.${pfx}prompt_scale_shift_table`);
      let shiftKv = sliceRows(kvTable, 0, 1);
      let scaleKv = sliceRows(kvTable, 1, 2);
      if (s.prompt) {
        shiftKv = add(sliceCols(s.prompt, 0, s.dim), shiftKv);
        scaleKv = add(sliceCols(s.prompt, s.dim, 2 * s.dim), scaleKv);
      }
      const q = modulate(x, eps, s, table, 7, 6);
      const ctx = add(mul(s.context, add(scaleKv, 1)), shiftKv);
      x = add(x, mul(attn(textName, q, ctx, null, null, false), adaValue(s, table, 8)));
    } else {
      x = add(x, attn(textName, norm(x, eps, null), s.context, null, null, false));
    }
    return x;
  };

  // A sub-layer as its own checkpoint (only its inputs kept, its temporaries freed when it returns).
  const sublayer = (f: (...xs: Tensor[]) => Tensor, ...xs: Tensor[]): Tensor =>
    flags.sublayers ? checkpoint((...ys) => scope(() => f(...ys)), ...xs) : f(...xs);

  let vx = sublayer((x) => selfAndText(v, x, "", flags.skipVideoSelf), vxIn);
  let ax = sublayer((x) => selfAndText(a, x, "audio_", flags.skipAudioSelf), axIn);

  // A↔V cross-attention.
  const videoTable = b.weight(`${prefix}.scale_shift_table_a2v_ca_video`);
  const audioTable = b.weight(`${prefix}.scale_shift_table_a2v_ca_audio`);
  // A↔V values: rows [scale, shift] from `first` of the stream's own-timestep table, the gate from the other's σ.
  const avModulated = (s: StreamArgs, table: Tensor, first: number, x: Tensor) =>
    modulate(x, eps, s, table, first, first + 1, s.crossScaleShift);
  const avGate = (s: StreamArgs, table: Tensor) => add(s.crossGate, sliceRows(table, 4, 5));
  const audioToVideo = (vPre: Tensor, aPre: Tensor): Tensor => {
    const out = attn(
      "audio_to_video_attn",
      avModulated(v, videoTable, 0, vPre),
      avModulated(a, audioTable, 0, aPre),
      { cos: v.crossCos, sin: v.crossSin },
      { cos: a.crossCos, sin: a.crossSin },
      false,
    );
    return add(vPre, keepWhere(flags.skipA2V, mul(out, avGate(v, videoTable))));
  };
  const videoToAudio = (aPre: Tensor, vPre: Tensor): Tensor => {
    const out = attn(
      "video_to_audio_attn",
      avModulated(a, audioTable, 2, aPre),
      avModulated(v, videoTable, 2, vPre),
      { cos: a.crossCos, sin: a.crossSin },
      { cos: v.crossCos, sin: v.crossSin },
      false,
    );
    return add(aPre, keepWhere(flags.skipV2A, mul(out, avGate(a, audioTable))));
  };
  // Both directions read the pre-exchange states.
  const vPre = vx;
  const aPre = ax;
  if (flags.skipA2V !== true) vx = sublayer(audioToVideo, vPre, aPre);
  if (flags.skipV2A !== true) ax = sublayer(videoToAudio, aPre, vPre);

  const feedForward = (s: StreamArgs, x: Tensor, pfx: "" | "audio_", hasBias: boolean): Tensor => {
    const table = b.weight(`${prefix}.${pfx}scale_shift_table`);
    const ff = `${prefix}.${pfx}ff`;
    const ffIn = modulate(x, eps, s, table, 4, 3);
    let h = loraLinear(b, `${ff}.net.0.proj`, ffIn, hasBias, flags.lora);
    h = gelu(h);
    h = loraLinear(b, `${ff}.net.2`, h, hasBias, flags.lora);
    return add(x, mul(h, adaValue(s, table, 5)));
  };
  vx = sublayer((x) => feedForward(v, x, "", config.ffBias), vx);
  ax = sublayer((x) => feedForward(a, x, "audio_", config.audioFfBias), ax);
  return { vx, ax };
}

interface RopePair {
  cos: Tensor;
  sin: Tensor;
}

/** Linear with an optional LoRA delta: x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ. */
function loraLinear(
  b: LtxTransformer,
  module: string,
  x: Tensor,
  hasBias: boolean,
  lora: ActiveLora | undefined,
): Tensor {
  const w = b.weight(`${module}.weight`);
  const bias = optionalBias(b, module, hasBias);
  if (!lora?.modules.has(module)) return b.linear(x, w, bias);
  return b.loraLinear(x, w, bias, b.parameter(loraKeyA(module)), b.parameter(loraKeyB(module)), lora.scale);
}

/** Upstream `Attention.forward`: q/k RMSNorm, RoPE, SDPA, per-head gate, to_out. */
function attention(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  module: string,
  name: AttentionModuleName,
  x: Tensor,
  context: Tensor | null,
  rope: RopePair | null,
  kRope: RopePair | null,
  perturbed: Skip,
  lora: ActiveLora | undefined,
): Tensor {
  const shape = attentionShape(config, name);
  const ctx = context ?? x;
  const value = loraLinear(b, `${module}.to_v`, ctx, true, lora);
  let out: Tensor;
  if (perturbed === true) {
    out = value;
  } else {
    let q = norm(loraLinear(b, `${module}.to_q`, x, true, lora), config.normEps, b.weight(`${module}.q_norm.weight`));
    let k = norm(loraLinear(b, `${module}.to_k`, ctx, true, lora), config.normEps, b.weight(`${module}.k_norm.weight`));
    if (rope) {
      q = headRope(b.fused, q, rope.cos, rope.sin, shape.heads);
      const kr = kRope ?? rope;
      k = headRope(b.fused, k, kr.cos, kr.sin, shape.heads);
    }
    out = headAttention(b.fused, q, k, value, shape.heads, b.attentionKernel);
    // STG for some examples of a batch: their output is the value projection.
    if (perturbed instanceof Tensor) out = add(mul(out, perturbed), mul(value, sub(1, perturbed)));
  }
  if (config.applyGatedAttention) {
    const logits = b.linear(x, b.weight(`${module}.to_gate_logits.weight`), bias(b, `${module}.to_gate_logits`));
    out = mulPerHead(out, mul(sigmoid(logits), 2), shape.heads);
  }
  return loraLinear(b, `${module}.to_out.0`, out, true, lora);
}

/** LayerNorm (no affine) · (1 + scale) + shift with [shift, scale] = table + embedded timestep, then proj_out. */
function outputProjection(b: LtxTransformer, config: LtxTransformerConfig, pfx: "" | "audio_", s: StreamArgs): Tensor {
  const table = b.weight(`${pfx}scale_shift_table`);
  const shift = perToken(add(s.embedded, sliceRows(table, 0, 1)), s.spread);
  const scale = perToken(add(s.embedded, sliceRows(table, 1, 2)), s.spread);
  const x = add(mul(layerNorm(s.x, config.normEps), add(scale, 1)), shift);
  return b.linear(x, b.weight(`${pfx}proj_out.weight`), bias(b, `${pfx}proj_out`));
}
