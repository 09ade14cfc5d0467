// Validates a training request the way the hosted service does and prints its bucket and price.
// Run after `npm run demo` (which builds the packages): node examples/input-and-cost.mjs
import { billing, isA2VError, parseTrainInput, resolutionFor } from "@a2v/sdk";

const request = { training_data_url: "examples/dataset/a2v-example.zip", number_of_frames: 50, resolution: "low" };
try {
  const input = parseTrainInput(request);
  const { width, height } = resolutionFor(input.resolution, input.aspect_ratio);
  console.log(`${input.number_of_frames} frames at ${width}x${height}, ${input.frame_rate} fps`);
  console.log(billing(input));
} catch (error) {
  if (isA2VError(error)) console.error(JSON.stringify(error, null, 2));
  else throw error;
}
