export { type MediaTool, type MediaTools, mediaTools, type ToolSource } from "./ffmpeg.js";
