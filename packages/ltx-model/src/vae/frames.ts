import { A2VError } from "@a2v/errors";
import { type HostTensor, hostTensor } from "@a2v/tensor-webgpu";

/**
 * RGB24 frames (row-major, interleaved) -> the encoder input [1, 3, F, H, W] in [-1, 1]
 * (the trainer reads frames in [0, 1] and applies Normalize(0.5, 0.5)). Frames beyond 1 + 8k are
 * dropped, as `VideoEncoder.forward` crops them.
 */
export function videoFromRgbFrames(
  frames: readonly Uint8Array[],
  width: number,
  height: number,
  timeFactor = 8,
): HostTensor {
  const count = frames.length - ((frames.length - 1) % timeFactor);
  if (frames.length === 0) throw new A2VError("video_frames_empty", "no frames to encode", { status: 422 });
  const plane = width * height;
  const out = hostTensor([1, 3, count, height, width]);
  for (let f = 0; f < count; f++) {
    const rgb = frames[f]!;
    if (rgb.length !== plane * 3) {
      throw new A2VError(
        "video_frame_size",
        `frame ${f} has ${rgb.length} bytes, ${width}x${height} RGB needs ${plane * 3}`,
        {
          status: 422,
        },
      );
    }
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++) out.data[(c * count + f) * plane + p] = (rgb[p * 3 + c]! / 255 - 0.5) / 0.5;
  }
  return out;
}

/** `decode_video` post-processing of one item [3, F, H, W] (or [1, 3, ...]): [F, H, W, 3] as (x + 1) / 2 clamped to [0, 1]. */
export function decodedToUnitRgb(decoded: HostTensor): HostTensor {
  const [c, f, h, w] = decoded.shape.slice(-4) as [number, number, number, number];
  const plane = h * w;
  const out = hostTensor([f, h, w, c]);
  for (let k = 0; k < c; k++)
    for (let z = 0; z < f; z++)
      for (let p = 0; p < plane; p++) {
        const v = (decoded.data[(k * f + z) * plane + p]! + 1) / 2;
        out.data[(z * plane + p) * c + k] = Math.min(1, Math.max(0, v));
      }
  return out;
}

/** [F, H, W, 3] in [0, 1] -> RGB24 frames (rounded), ready for an encoder such as ffmpeg's rawvideo input. */
export function unitRgbToFrames(rgb: HostTensor): Uint8Array[] {
  const [f, h, w, c] = rgb.shape as [number, number, number, number];
  const size = h * w * c;
  return Array.from({ length: f }, (_, z) =>
    Uint8Array.from(rgb.data.subarray(z * size, (z + 1) * size), (v) => Math.round(v * 255)),
  );
}
