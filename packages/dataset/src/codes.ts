/**
 * Stable, machine-readable codes. Errors carry them in `A2VError.code` and in each
 * `details[].code`; warnings carry them in `manifest.warnings[].code`.
 */
export const DatasetErrorCodes = {
  /** The archive could not be fetched (HTTP failure, refused address, unreadable local file). Not a 422. */
  downloadFailed: "download_failed",
  /** The archive is not a zip, or one of its entries is corrupt. */
  notAZip: "not_a_zip",
  /** The archive holds no usable group. */
  emptyDataset: "empty_dataset",
  /** Absolute path, `..` segment, symlink or special file, encrypted entry, zip-bomb ratio or overlap, size lie. */
  unsafeEntry: "unsafe_entry",
  /** The archive, an entry, the sum of entries or the entry count exceeds a cap. */
  archiveTooLarge: "archive_too_large",
  /** The same file name appears in two folders. */
  duplicateName: "duplicate_name",
  /** Two start (or audio, or end) files for one group. */
  ambiguousGroup: "ambiguous_group",
  missingStart: "missing_start",
  missingTarget: "missing_target",
  /** No `_audio` file and no audio track in the `_start` video. */
  missingAudio: "missing_audio",
  /** No caption file (or an empty one) and no trigger phrase. */
  missingCaption: "missing_caption",
  /** A caption that is not UTF-8 text or is unreasonably large. */
  invalidCaption: "invalid_caption",
  /**
   * A media file that ffprobe cannot read, whose content is not the format its extension names, whose
   * first frames or packets cannot be decoded, or that lacks the stream its role needs.
   */
  corruptMedia: "corrupt_media",
  /** A media file longer than `limits.maxMediaSeconds`, with more frames than `limits.maxVideoFrames`, or a picture over `limits.maxPixels`. */
  mediaTooLarge: "media_too_large",
  /** Every target is shorter than `number_of_frames` at `frame_rate` (with `auto_scale_input` off), or preprocessing made no sample. */
  allTargetsTooShort: "all_targets_too_short",
  /** A loader option is out of range (e.g. `numberOfFrames`). */
  invalidOption: "invalid_option",
  /** Several different problems: the list is in `details`. */
  invalidDataset: "invalid_dataset",
} as const;

export type DatasetErrorCode = (typeof DatasetErrorCodes)[keyof typeof DatasetErrorCodes];

export const DatasetWarningCodes = {
  /** A file that is not part of the dataset format; it is ignored. */
  unknownFile: "unknown_file",
  /** A `.txt` caption with no media file of the same base name; it is ignored. */
  orphanCaption: "orphan_caption",
  /** A target shorter than `number_of_frames`: the group is skipped. */
  targetTooShort: "target_too_short",
  /** Fewer than 10 usable groups. */
  fewGroups: "few_groups",
  /** The conditioning audio is much shorter than the target clip. */
  shortAudio: "short_audio",
  /** Both an `_audio` file and a `_start` video with an audio track: the `_audio` file is used. */
  audioFilePreferred: "audio_file_preferred",
} as const;

export type DatasetWarningCode = (typeof DatasetWarningCodes)[keyof typeof DatasetWarningCodes];
