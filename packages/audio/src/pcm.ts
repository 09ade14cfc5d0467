import { A2VError } from "@a2v/errors";

/**
 * Planar float PCM: one `Float32Array` per channel, all the same length, nominal range [-1, 1].
 * Every function in this package takes and returns audio in this layout.
 */
export type Pcm = Float32Array[];

/** Samples per channel (0 for no channels). Throws if the channels differ in length. */
export function frameCount(pcm: readonly Float32Array[]): number {
  const length = pcm[0]?.length ?? 0;
  for (const channel of pcm) {
    if (channel.length !== length) {
      throw new A2VError("invalid_pcm", `PCM channels must have equal lengths, got ${pcm.map((c) => c.length)}.`);
    }
  }
  return length;
}

/** Largest absolute sample over all channels; NaN if any sample is NaN. */
export function peakOf(pcm: readonly Float32Array[]): number {
  let peak = 0;
  for (const channel of pcm) {
    for (let i = 0; i < channel.length; i++) {
      const v = Math.abs(channel[i]!);
      if (v > peak) peak = v;
      else if (Number.isNaN(v)) return Number.NaN;
    }
  }
  return peak;
}

/** Linear amplitude -> dBFS (-Infinity for 0). */
export function toDbfs(amplitude: number): number {
  return 20 * Math.log10(amplitude);
}

/** dBFS -> linear amplitude. */
export function fromDbfs(dbfs: number): number {
  return 10 ** (dbfs / 20);
}

/** Mean of all channels, one channel out. */
export function mixToMono(pcm: readonly Float32Array[]): Float32Array {
  const length = frameCount(pcm);
  const mono = new Float32Array(length);
  if (pcm.length === 0) return mono;
  for (const channel of pcm) for (let i = 0; i < length; i++) mono[i]! += channel[i]!;
  const scale = 1 / pcm.length;
  for (let i = 0; i < length; i++) mono[i]! *= scale;
  return mono;
}
