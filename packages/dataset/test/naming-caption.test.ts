import { describe, expect, test } from "vitest";
import { applyTriggerPhrase, classifyPath, decodeCaption, snapNumberOfFrames } from "../src/index.js";

describe("classifyPath", () => {
  test("every extension of the spec, in any case, in any folder", () => {
    for (const ext of ["png", "jpg", "jpeg", "mp4", "mov", "avi", "mkv", "PNG", "Jpeg", "MKV"]) {
      expect(classifyPath(`a/b/clip_start.${ext}`)).toEqual({
        kind: "member",
        group: "clip",
        role: "start",
        extension: ext.toLowerCase(),
      });
    }
    for (const ext of ["wav", "mp3", "ogg", "m4a", "aac", "flac", "FLAC"]) {
      expect(classifyPath(`clip_audio.${ext}`)).toMatchObject({ role: "audio", extension: ext.toLowerCase() });
    }
    for (const ext of ["mp4", "mov", "avi", "mkv", "MOV"]) {
      expect(classifyPath(`clip_end.${ext}`)).toMatchObject({ role: "target", group: "clip" });
    }
    expect(classifyPath("x/clip.TXT")).toEqual({ kind: "member", group: "clip", role: "caption", extension: "txt" });
  });

  test("base names keep their case and inner underscores; the last suffix decides the role", () => {
    expect(classifyPath("My_Clip_01_START.png")).toMatchObject({ group: "My_Clip_01", role: "start" });
    expect(classifyPath("a_end_start.png")).toMatchObject({ group: "a_end", role: "start" });
    expect(classifyPath("a_audio.txt")).toMatchObject({ group: "a_audio", role: "caption" });
  });

  test("wrong extensions for a role and unrelated files are unknown, OS metadata is recognised", () => {
    expect(classifyPath("clip_audio.mp4")).toMatchObject({ kind: "unknown" });
    expect(classifyPath("clip_end.png")).toMatchObject({ kind: "unknown" });
    expect(classifyPath("clip_start")).toMatchObject({ kind: "unknown" });
    expect(classifyPath("_start.png")).toMatchObject({ kind: "unknown" });
    expect(classifyPath("clip.png")).toMatchObject({ kind: "unknown" });
    expect(classifyPath(".txt")).toMatchObject({ kind: "unknown" });
    expect(classifyPath("__MACOSX/x/clip_start.png")).toEqual({ kind: "os_metadata" });
    expect(classifyPath("x/._clip_start.png")).toEqual({ kind: "os_metadata" });
    expect(classifyPath(".DS_Store")).toEqual({ kind: "os_metadata" });
  });
});

describe("captions", () => {
  test("decodeCaption strips the BOM, trims, and refuses invalid UTF-8", () => {
    expect(decodeCaption(Buffer.from("\uFEFF\n  hello world \r\n"))).toBe("hello world");
    expect(decodeCaption(Buffer.from("\uFEFF"))).toBe("");
    expect(() => decodeCaption(Buffer.from([0x66, 0xff, 0x66]))).toThrow();
  });

  test("applyTriggerPhrase prepends once, as whole words, case-insensitively", () => {
    expect(applyTriggerPhrase("a cat", "")).toBe("a cat");
    expect(applyTriggerPhrase("", "sks")).toBe("sks");
    expect(applyTriggerPhrase("a cat", "sks")).toBe("sks a cat");
    expect(applyTriggerPhrase("SKS a cat", "sks")).toBe("SKS a cat");
    expect(applyTriggerPhrase("a photo of sks, talking", "sks")).toBe("a photo of sks, talking");
    expect(applyTriggerPhrase("asks a question", "sks")).toBe("sks asks a question");
    expect(applyTriggerPhrase("price (1.5x) fast", "(1.5x)")).toBe("price (1.5x) fast");
  });
});

describe("snapNumberOfFrames", () => {
  test("snaps down to 8k+1 inside 9..121 and refuses the rest", () => {
    expect(snapNumberOfFrames(89)).toBe(89);
    expect(snapNumberOfFrames(96)).toBe(89);
    expect(snapNumberOfFrames(9)).toBe(9);
    expect(snapNumberOfFrames(16)).toBe(9);
    expect(snapNumberOfFrames(121)).toBe(121);
    for (const bad of [8, 122, 20.5, Number.NaN]) expect(() => snapNumberOfFrames(bad)).toThrow(/number_of_frames/);
  });
});
