export { drawA2VStep, evaluationDraw, exampleIndex, initialLora, streamRng } from "./draw.js";
export {
  collectExamples,
  type ExampleSource,
  type TrainingExample,
  validateExample,
} from "./examples.js";
export {
  type CheckpointSettings,
  type EvaluationSettings,
  type OptimizerSettings,
  type ResolvedOptions,
  resolveOptions,
  type StepProgress,
  type TrainLoraOptions,
} from "./options.js";
export {
  checkpointPaths,
  checkpointSteps,
  latestResumeState,
  loadResumeState,
  pruneCheckpoints,
  type ResumeState,
  saveResumeState,
} from "./state.js";
export { type TrainLoraResult, trainLora } from "./train-lora.js";
