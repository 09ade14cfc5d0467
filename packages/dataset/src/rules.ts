import { applyTriggerPhrase } from "./caption.js";
import { type DatasetErrorCode, DatasetErrorCodes, DatasetWarningCodes } from "./codes.js";
import type { GroupFiles, GroupMember } from "./grouping.js";
import { isImageExtension } from "./naming.js";
import type { DatasetFile, DatasetGroup, DatasetIssue, MediaProbe } from "./types.js";

/** Below this many usable groups the spec's tip ("use at least 10 groups") becomes a warning. */
export const RECOMMENDED_MIN_GROUPS = 10;
/** Audio shorter than this fraction of its target clip is flagged: it would be stretched a lot. */
export const SHORT_AUDIO_RATIO = 0.5;

/** A probe result, or the problem (`corrupt_media`, `media_too_large`; the message names the file). */
export type ProbeOutcome =
  | { ok: true; probe: MediaProbe }
  | { ok: false; code: DatasetErrorCode; message: string }
  /** Not probed: probing stopped after too many unreadable files (reported once for the dataset). */
  | { ok: false; skipped: true };
export type CaptionOutcome = { ok: true; text: string } | { ok: false; reason: string };

export interface GroupEvidence {
  files: GroupFiles;
  probes: Map<GroupMember, ProbeOutcome>;
  caption?: CaptionOutcome;
  localPaths?: Map<GroupMember, string>;
}

export interface RuleOptions {
  triggerPhrase: string;
  numberOfFrames: number;
  autoScaleInput: boolean;
  /** Training frame rate: targets are judged by the frames they have once resampled to it. */
  frameRate: number;
}

/**
 * Frames a video has at `frameRate` after preprocessing's `fps=F:round=up` resampling: output frame k
 * exists while k / F is before the clip's end, so ceil(frames x F / fps) (checked against ffmpeg for
 * 24/25/30/60 fps sources). A 100-frame 60 fps clip is 40 frames at 24 fps.
 */
export function framesAtRate(video: { frames: number; fps: number }, frameRate: number): number {
  if (!(video.fps > 0)) return video.frames;
  return Math.ceil((video.frames * frameRate) / video.fps - 1e-6);
}

export interface GroupVerdict {
  problems: DatasetIssue[];
  warnings: DatasetIssue[];
  group?: DatasetGroup;
}

/** Applies the service's per-group rules; a group comes back only when it has no problem. */
export function evaluateGroup(evidence: GroupEvidence, options: RuleOptions): GroupVerdict {
  const { name, members } = evidence.files;
  const problems: DatasetIssue[] = [];
  const warnings: DatasetIssue[] = [];
  const problem = (code: DatasetErrorCode, message: string, file?: string) =>
    problems.push({ code, group: name, message, ...(file ? { file } : {}) });

  const probeOf = (member: GroupMember | undefined, needs: "video" | "audio", what: string) => {
    if (!member) return undefined;
    const outcome = evidence.probes.get(member);
    if (!outcome?.ok) {
      if (outcome && "skipped" in outcome) return undefined;
      problem(
        outcome?.code ?? DatasetErrorCodes.corruptMedia,
        outcome?.message ?? `${member.path}: not probed`,
        member.path,
      );
      return undefined;
    }
    if (!outcome.probe[needs]) {
      problem(
        DatasetErrorCodes.corruptMedia,
        `${member.path}: it has no ${needs} stream (needed for ${what})`,
        member.path,
      );
      return undefined;
    }
    return outcome.probe;
  };

  const start = probeOf(members.start, "video", "the start image");
  const target = probeOf(members.target, "video", "the target video");
  const audio = probeOf(members.audio, "audio", "the conditioning audio");
  if (!members.start) problem(DatasetErrorCodes.missingStart, `group ${name} has no ${name}_start image or video`);
  if (!members.target) problem(DatasetErrorCodes.missingTarget, `group ${name} has no ${name}_end target video`);

  const startIsVideo = members.start !== undefined && !isImageExtension(members.start.extension);
  const startCarriesAudio = startIsVideo && start?.audio !== undefined;
  const startUnreadable = members.start !== undefined && start === undefined;
  if (!members.audio && !startCarriesAudio && !startUnreadable) {
    const why = !members.start
      ? "and no _start video"
      : startIsVideo
        ? `and ${members.start.path} has no audio track`
        : `and ${members.start.path} is an image`;
    problem(DatasetErrorCodes.missingAudio, `group ${name} has no audio source: no ${name}_audio file ${why}`);
  }
  if (members.audio && audio && startCarriesAudio) {
    warnings.push({
      code: DatasetWarningCodes.audioFilePreferred,
      group: name,
      file: members.audio.path,
      message: `group ${name}: both ${members.audio.path} and the audio track of ${members.start!.path}; using ${members.audio.path}`,
    });
  }

  let captionText = "";
  if (evidence.caption && !evidence.caption.ok) {
    problem(
      DatasetErrorCodes.invalidCaption,
      `${members.caption!.path}: ${evidence.caption.reason}`,
      members.caption!.path,
    );
  } else if (evidence.caption?.ok) {
    captionText = evidence.caption.text;
  }
  if (!captionText && !options.triggerPhrase && !(evidence.caption && !evidence.caption.ok)) {
    const why = members.caption ? `${members.caption.path} is empty` : `there is no ${name}.txt`;
    problem(DatasetErrorCodes.missingCaption, `group ${name} needs a caption: ${why} and no trigger phrase is set`);
  }

  if (problems.length > 0 || !start || !target || !members.start || !members.target) return { problems, warnings };

  const file = (member: GroupMember, probe: MediaProbe): DatasetFile => {
    const localPath = evidence.localPaths?.get(member);
    return {
      archivePath: member.path,
      bytes: member.entry.uncompressedSize,
      ...(localPath ? { localPath } : {}),
      probe,
    };
  };
  const targetVideo = target.video!;
  const targetFrames = framesAtRate(targetVideo, options.frameRate);
  const tooShort = !options.autoScaleInput && targetFrames < options.numberOfFrames;
  if (tooShort) {
    warnings.push({
      code: DatasetWarningCodes.targetTooShort,
      group: name,
      file: members.target.path,
      message: `group ${name} is skipped: ${members.target.path} has ${describeFrames(targetVideo, targetFrames, options.frameRate)}, fewer than number_of_frames ${options.numberOfFrames} (turn on auto_scale_input to resample it)`,
    });
  }
  const audioDuration = audio ? audio.audio!.durationSec : start.audio!.durationSec;
  if (targetVideo.durationSec > 0 && audioDuration < SHORT_AUDIO_RATIO * targetVideo.durationSec) {
    warnings.push({
      code: DatasetWarningCodes.shortAudio,
      group: name,
      file: members.audio?.path ?? members.start.path,
      message: `group ${name}: the audio lasts ${audioDuration.toFixed(2)} s, much shorter than the ${targetVideo.durationSec.toFixed(2)} s target`,
    });
  }
  const group: DatasetGroup = {
    name,
    start: { ...file(members.start, start), kind: startIsVideo ? "video" : "image" },
    ...(members.audio && audio ? { audio: file(members.audio, audio) } : {}),
    audioSource: members.audio ? "audio_file" : "start_video",
    target: file(members.target, target),
    targetFrames,
    ...(members.caption ? { captionFile: members.caption.path } : {}),
    caption: applyTriggerPhrase(captionText, options.triggerPhrase),
    status: tooShort ? "skipped" : "ok",
    ...(tooShort ? { skipReason: "target_too_short" as const } : {}),
  };
  return { problems, warnings, group };
}

/** Dataset-wide rules, run once every group passed: something left to train on, and the tips. */
export function evaluateDataset(
  groups: DatasetGroup[],
  options: RuleOptions,
): { problems: DatasetIssue[]; warnings: DatasetIssue[] } {
  const ok = groups.filter((g) => g.status === "ok");
  if (groups.length > 0 && ok.length === 0) {
    return {
      problems: groups.map((g) => ({
        code: DatasetErrorCodes.allTargetsTooShort,
        group: g.name,
        file: g.target.archivePath,
        message: `${g.target.archivePath} has ${describeFrames(g.target.probe.video!, g.targetFrames, options.frameRate)}, fewer than number_of_frames ${options.numberOfFrames}`,
      })),
      warnings: [],
    };
  }
  const warnings: DatasetIssue[] = [];
  if (ok.length < RECOMMENDED_MIN_GROUPS) {
    warnings.push({
      code: DatasetWarningCodes.fewGroups,
      message: `only ${ok.length} usable group${ok.length === 1 ? "" : "s"}; at least ${RECOMMENDED_MIN_GROUPS} are recommended`,
    });
  }
  return { problems: [], warnings };
}

function describeFrames(video: { frames: number; fps: number }, atRate: number, frameRate: number): string {
  return atRate === video.frames && Math.abs(video.fps - frameRate) < 1e-6
    ? `${video.frames} frames`
    : `${atRate} frames at ${frameRate} fps (${video.frames} at ${Math.round(video.fps * 100) / 100} fps)`;
}
