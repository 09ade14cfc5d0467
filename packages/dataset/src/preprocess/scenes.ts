/**
 * Scene-cut detection in the spirit of PySceneDetect's ContentDetector: each frame is converted to
 * OpenCV-style 8-bit HSV (H 0..179, S and V 0..255) and scored by the mean absolute per-pixel change of
 * H, S and V against the previous frame, averaged over the three channels (edge weight 0). A cut
 * starts a new scene at frame i when score[i] >= threshold and at least `minSceneFrames` frames have
 * passed since the previous scene start (PySceneDetect's flash filter in "suppress" mode, so a flash
 * or the start image at frame 0 cannot make a tiny scene).
 */

export interface SceneDetectorOptions {
  /** Cut threshold on the 0..255 content score. Default 27 (PySceneDetect's default). */
  threshold?: number;
  /** Shortest scene in seconds (PySceneDetect's CLI default: 0.6 s). */
  minSceneSeconds?: number;
}

export const DEFAULT_SCENE_THRESHOLD = 27;
export const DEFAULT_MIN_SCENE_SECONDS = 0.6;

/** Frames are scored at no more than this many pixels on the long side (PySceneDetect works at ~256). */
export const DETECTION_LONG_SIDE = 256;

export class ContentDetector {
  readonly threshold: number;
  readonly minSceneFrames: number;
  /** Content score of every frame pushed so far (0 for frame 0), for the debug manifest. */
  readonly scores: number[] = [];
  /** Frame indices where a new scene starts (0 excluded). */
  readonly cuts: number[] = [];
  private previous: Uint8Array | undefined;
  private current: Uint8Array | undefined;
  private lastStart = 0;

  constructor(fps: number, options: SceneDetectorOptions = {}) {
    this.threshold = options.threshold ?? DEFAULT_SCENE_THRESHOLD;
    this.minSceneFrames = Math.max(1, Math.round((options.minSceneSeconds ?? DEFAULT_MIN_SCENE_SECONDS) * fps));
  }

  /** Scores one packed RGB frame; returns true when it starts a new scene. */
  push(rgb: Uint8Array): boolean {
    const pixels = rgb.length / 3;
    if (!this.current || this.current.length !== pixels * 3) {
      this.current = new Uint8Array(pixels * 3);
      this.previous = undefined;
    }
    const hsv = this.current;
    toHsv(rgb, hsv);
    const index = this.scores.length;
    let cut = false;
    if (!this.previous) {
      this.scores.push(0);
    } else {
      const prev = this.previous;
      let dh = 0;
      let ds = 0;
      let dv = 0;
      for (let i = 0; i < hsv.length; i += 3) {
        dh += Math.abs(hsv[i]! - prev[i]!);
        ds += Math.abs(hsv[i + 1]! - prev[i + 1]!);
        dv += Math.abs(hsv[i + 2]! - prev[i + 2]!);
      }
      const score = (dh + ds + dv) / (3 * pixels);
      this.scores.push(score);
      if (score >= this.threshold && index - this.lastStart >= this.minSceneFrames) {
        this.cuts.push(index);
        this.lastStart = index;
        cut = true;
      }
    }
    // Swap buffers: this frame becomes the reference for the next one.
    this.current = this.previous ?? new Uint8Array(hsv.length);
    this.previous = hsv;
    return cut;
  }
}

/** Packed RGB -> packed HSV with OpenCV's 8-bit conventions (H in 0..179). */
function toHsv(rgb: Uint8Array, out: Uint8Array): void {
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i]!;
    const g = rgb[i + 1]!;
    const b = rgb[i + 2]!;
    const v = Math.max(r, g, b);
    const delta = v - Math.min(r, g, b);
    let h = 0;
    if (delta > 0) {
      if (v === r) h = (60 * (g - b)) / delta;
      else if (v === g) h = 120 + (60 * (b - r)) / delta;
      else h = 240 + (60 * (r - g)) / delta;
      if (h < 0) h += 360;
    }
    out[i] = Math.round(h / 2) % 180;
    out[i + 1] = v === 0 ? 0 : Math.round((255 * delta) / v);
    out[i + 2] = v;
  }
}

/** Scenes as half-open frame ranges [start, end) from the cut list and the clip's frame count. */
export function scenesFromCuts(cuts: readonly number[], frameCount: number): [number, number][] {
  const bounds = [0, ...cuts, frameCount];
  const scenes: [number, number][] = [];
  for (let i = 0; i + 1 < bounds.length; i++) scenes.push([bounds[i]!, bounds[i + 1]!]);
  return scenes;
}
