import type { SceneDetectorOptions } from "./scenes.js";
import type { Bucket } from "./video.js";

/** One validated group, as plain local file paths. */
export interface PreprocessGroup {
  name: string;
  /** `_start.png|jpg|jpeg`, or `_start.mp4|mov|avi|mkv` whose first frame is used. */
  startFile: string;
  /** `_audio.*`; when absent the start video's audio track is used. */
  audioFile?: string;
  /** `_end` target video. */
  endFile: string;
  /** Final caption (trigger phrase already prepended). */
  caption: string;
  /** Names errors show instead of the local paths: the files' paths inside the archive. */
  labels?: { start?: string; audio?: string; end?: string };
}

/** Which training windows a clip yields when `autoScaleInput` is off. */
export type WindowMode = "first" | "all";

export interface SampleOptions {
  /** Frame size: `resolutionFor(resolution, aspect_ratio)` from @a2v/sdk. */
  bucket: Bucket;
  /** `number_of_frames` (already snapped to 8k+1). */
  numberOfFrames: number;
  /** `frame_rate`. */
  frameRate: number;
  /** `auto_scale_input`: resample each clip (or scene) in time to exactly `numberOfFrames`. Default false. */
  autoScaleInput?: boolean;
  /** `split_input_into_scenes`. Default false. */
  splitInputIntoScenes?: boolean;
  /** `split_input_duration_threshold` in seconds: only longer clips are split. Default 30. */
  splitInputDurationThreshold?: number;
  /** `audio_normalize`: peak-normalize the conditioning audio (to -1 dBFS). Default true. */
  audioNormalize?: boolean;
  /** `audio_preserve_pitch`: time-stretch the audio to the clip (else trim/pad). Default true. */
  audioPreservePitch?: boolean;
  /**
   * With `autoScaleInput` off: "first" (default) takes the first `numberOfFrames` of each clip (or scene),
   * the window that opens with the start image; "all" takes every non-overlapping window, in order, and
   * drops the remainder.
   */
  windows?: WindowMode;
  /** PCM rate of `TrainingSample.audio`. Default 16000 (the LTX-2 audio VAE's rate). */
  audioSampleRate?: number;
  /** PCM channels of `TrainingSample.audio`. Default 2 (the LTX-2 audio VAE is stereo; mono is duplicated). */
  audioChannels?: number;
  /** Scene detector tuning. */
  sceneDetection?: SceneDetectorOptions;
  /** Content-addressed cache: a group whose files and settings were seen before is read back, not decoded. */
  cacheDir?: string;
  /** Time budget of every ffmpeg/ffprobe run (ms). Default 10 minutes. */
  ffmpegTimeoutMs?: number;
  /** Longest target clip or conditioning audio decoded (seconds); longer is `media_too_large`. Default 600. */
  maxMediaSeconds?: number;
  /** Largest start picture (pixels), refused before decoding. Default 40,000,000. */
  maxPixels?: number;
  /** Non-fatal problems (dropped scenes, too-short clips). */
  onWarning?: (warning: PreprocessWarning) => void;
}

export type PreprocessWarningCode = "scene_too_short" | "target_too_short";

export interface PreprocessWarning {
  code: PreprocessWarningCode;
  message: string;
  group: string;
}

/** Everything about a sample except its pixels and PCM (what the cache and debug manifest store). */
export interface SampleInfo {
  /** `<group>.s<scene>.w<window>`. */
  id: string;
  group: string;
  caption: string;
  width: number;
  height: number;
  /** Frame count F (= numberOfFrames). */
  frames: number;
  fps: number;
  /** Scene index inside the clip (0 when not split). */
  scene: number;
  /** Window index inside the scene (0 with auto-scale or `windows: "first"`). */
  window: number;
  /** Range of the assembled clip (frames at `fps`, before auto-scale resampling) this sample covers. */
  sourceFrames: [number, number];
  /** The same range in seconds of the clip. */
  sourceSeconds: [number, number];
  /** True when frame 0 is the start image (the first sample of scene 0). */
  startsWithStartImage: boolean;
  sampleRate: number;
  channels: number;
  /** Audio samples per channel: exactly round(frames / fps * sampleRate). */
  audioSamples: number;
  /** Output audio duration / input audio duration (1 = untouched; trim/pad mode is always 1). */
  audioStretch: number;
}

/** One training sample, the unit the trainer consumes. */
export interface TrainingSample extends SampleInfo {
  /** uint8 RGB, shape [frames, height, width, 3], row-major. */
  pixels: Uint8Array;
  /** Planar float PCM, `channels` arrays of `audioSamples`. */
  audio: Float32Array[];
}

/** What preprocessing found out about one group. */
export interface GroupReport {
  name: string;
  files: { start: string; audio: string; end: string };
  /** Read back from the cache (no decoding). */
  cached: boolean;
  /** Target duration in seconds. */
  clipSeconds: number;
  /** Conditioning audio duration in seconds (after decode, before fitting). */
  audioSeconds: number;
  /** Peak-normalization gain applied (1 when off or silent). */
  audioGain: number;
  /** Scene ranges [start, end) in clip frames when the clip was split; absent when not split. */
  scenes?: [number, number][];
  samples: SampleInfo[];
  warnings: PreprocessWarning[];
}
