import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { A2VError } from "@a2v/errors";
import { decodeAudio } from "./decode.js";
import { encodeAudio } from "./encode.js";
import { fitToDuration, samplesForDuration } from "./fit.js";
import { peakNormalize } from "./normalize.js";
import { frameCount, peakOf, toDbfs } from "./pcm.js";
import { probeAudio } from "./probe.js";

export interface AudioFitRequest {
  input: string;
  output: string;
  durationSeconds: number;
  /** Default true. */
  preservePitch?: boolean;
  /** Peak-normalise the result to `targetDbfs` (default true). */
  normalize?: boolean;
  targetDbfs?: number;
  onProgress?: (fraction: number) => void;
}

export interface AudioFitReport {
  input: string;
  output: string;
  sampleRate: number;
  channels: number;
  inputSeconds: number;
  outputSeconds: number;
  /** Output duration / input duration (> 1 slows down). */
  stretchFactor: number;
  preservePitch: boolean;
  normalized: boolean;
  /** Absolute sample peak in dBFS (-Infinity for silence). */
  peakBeforeDbfs: number;
  peakAfterDbfs: number;
}

/**
 * Decode -> fit to the duration (pitch-preserving unless told otherwise) -> peak-normalise -> encode.
 * `a2v audio fit` (in `@a2v/sdk`) is this function on the command line. A duration shorter than one sample or past
 * the budget is a `usage` error (status 400: the requested duration, not the file, is wrong).
 */
export async function fitAudioFile(request: AudioFitRequest): Promise<AudioFitReport> {
  const preservePitch = request.preservePitch ?? true;
  const normalize = request.normalize ?? true;
  await assertOutputFolder(request.output);
  // Sizes are judged from the header before anything is decoded, and the decode is capped too, so a
  // 10-hour file (or a header that lies) never costs more than MAX_FIT_SAMPLES.
  const probe = await probeAudio(request.input);
  const { sampleRate, channels } = probe;
  const outFrames = samplesForDuration(request.durationSeconds, sampleRate);
  if (outFrames < 1) {
    throw usageError(`--duration ${request.durationSeconds} s is shorter than one sample at ${sampleRate} Hz`);
  }
  const maxFrames = Math.floor(MAX_FIT_SAMPLES / channels);
  if (outFrames > maxFrames) {
    throw usageError(
      `--duration ${request.durationSeconds} s is longer than ${(maxFrames / sampleRate).toFixed(1)} s, the most a fit holds at ${sampleRate} Hz x${channels}`,
    );
  }
  if (probe.durationSeconds * sampleRate > maxFrames) throw tooLong(request.input, maxFrames / sampleRate);
  const { pcm } = await decodeAudio(request.input, {
    sampleRate,
    channels,
    durationSeconds: maxFrames / sampleRate + 1,
  });
  const inFrames = frameCount(pcm);
  if (inFrames > maxFrames) throw tooLong(request.input, maxFrames / sampleRate);
  if (inFrames === 0) {
    throw new A2VError("empty_audio", `No audio samples decoded from ${request.input}.`, {
      status: 422,
      details: [{ code: "empty_audio", message: "the audio stream is empty", file: request.input }],
    });
  }
  const fitted = fitToDuration(pcm, sampleRate, request.durationSeconds, {
    preservePitch,
    onProgress: request.onProgress,
  });
  const result = normalize ? peakNormalize(fitted, { targetDbfs: request.targetDbfs }).pcm : fitted;
  await encodeAudio({ sampleRate, pcm: result }, request.output);
  return {
    input: request.input,
    output: request.output,
    sampleRate,
    channels: pcm.length,
    inputSeconds: inFrames / sampleRate,
    outputSeconds: outFrames / sampleRate,
    stretchFactor: outFrames / inFrames,
    preservePitch,
    normalized: normalize,
    peakBeforeDbfs: toDbfs(peakOf(pcm)),
    peakAfterDbfs: toDbfs(peakOf(result)),
  };
}

/**
 * Most samples (all channels together) `fitAudioFile` holds for its input, and for its output: 300 s of
 * 48 kHz stereo (115 MB of float PCM each; the whole fit then peaks near 600 MB), 30 min of 16 kHz mono.
 */
export const MAX_FIT_SAMPLES = 300 * 48_000 * 2;

function tooLong(file: string, seconds: number): A2VError {
  const message = `${file} is longer than ${seconds.toFixed(1)} s, the most a fit holds at its rate and channel count`;
  return new A2VError("media_too_large", message, {
    status: 422,
    details: [{ code: "media_too_large", message, file }],
  });
}

/** Fails before any decoding when the output's folder does not exist or is not a folder. */
async function assertOutputFolder(output: string): Promise<void> {
  const folder = dirname(resolve(output));
  const info = await stat(folder).catch(() => undefined);
  if (info?.isDirectory()) return;
  const rule = info ? "is not a folder" : "does not exist";
  const code = info ? "output_folder_not_a_directory" : "output_folder_missing";
  throw new A2VError(code, `Cannot write ${output}: its folder ${folder} ${rule}.`, {
    status: 422,
    details: [{ code, message: `the output folder ${rule}`, file: output }],
  });
}

function usageError(message: string): A2VError {
  return new A2VError("usage", message, { status: 400 });
}
