import { DatasetErrorCodes, DatasetWarningCodes } from "./codes.js";
import type { SafeEntry } from "./entry-safety.js";
import { classifyPath, type Role } from "./naming.js";
import type { DatasetIssue } from "./types.js";

export interface GroupMember extends SafeEntry {
  extension: string;
}

export interface GroupFiles {
  name: string;
  /** The first file seen for each role. */
  members: Partial<Record<Role, GroupMember>>;
  /** `duplicate_name` / `ambiguous_group` problems; such a group is reported, not probed. */
  conflicts: DatasetIssue[];
}

export interface Grouping {
  /** Groups sorted by name. */
  groups: GroupFiles[];
  /** `unknown_file` warnings. */
  warnings: DatasetIssue[];
  /** Paths not used: unknown files and OS metadata. */
  ignored: string[];
}

const ROLE_WORD: Record<Role, string> = { start: "start", audio: "audio", target: "end (target)", caption: "caption" };

/** Sorts archive files into groups by base name and reports name clashes. */
export function groupEntries(files: SafeEntry[]): Grouping {
  const byName = new Map<string, GroupFiles>();
  const seen = new Map<string, GroupMember>();
  const warnings: DatasetIssue[] = [];
  const ignored: string[] = [];
  for (const file of files) {
    const kind = classifyPath(file.path);
    if (kind.kind === "os_metadata") {
      ignored.push(file.path);
      continue;
    }
    if (kind.kind === "unknown") {
      ignored.push(file.path);
      warnings.push({
        code: DatasetWarningCodes.unknownFile,
        file: file.path,
        message: `${file.path} is ignored: ${kind.reason}`,
      });
      continue;
    }
    const { group: name, role, extension } = kind;
    const group: GroupFiles = byName.get(name) ?? { name, members: {}, conflicts: [] };
    byName.set(name, group);
    const member: GroupMember = { ...file, extension };
    // The same name with only the case of the suffix or extension changed counts as the same name.
    const key = `${name}\u0000${role}\u0000${extension}`;
    const twin = seen.get(key);
    if (twin) {
      group.conflicts.push({
        code: DatasetErrorCodes.duplicateName,
        group: name,
        file: file.path,
        message: `file names must be unique across the archive: ${twin.path} and ${file.path}`,
      });
      continue;
    }
    seen.set(key, member);
    const existing = group.members[role];
    if (existing) {
      group.conflicts.push({
        code: DatasetErrorCodes.ambiguousGroup,
        group: name,
        file: file.path,
        message: `group ${name} has two ${ROLE_WORD[role]} files: ${existing.path} and ${file.path}`,
      });
      continue;
    }
    group.members[role] = member;
  }
  const groups = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { groups, warnings, ignored };
}
