/**
 * Text safe to print on a terminal: C1 controls, DEL and the invisible/bidirectional formatting
 * characters (a right-to-left override makes "txt.exe" look like "exe.txt") are shown as \uXXXX.
 * Used for human output only; JSON keeps names as they are.
 */
export function printable(text: string): string {
  return text.replace(/[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  });
}
