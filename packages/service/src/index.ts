export { type ApiOptions, createApi, type ServiceApi, type Status, StatusSchema } from "./api.js";
export type { ChildArgs } from "./child.js";
export { consolePage } from "./console.js";
export {
  ADMIT_SCRIPT,
  type ApiKeyRecord,
  admit,
  createApiKey,
  type JobData,
  type JobProgress,
  type JobResult,
  lookupApiKey,
  OUTPUT_FIELDS,
  QUEUE_NAME,
  serviceKeys,
} from "./shared.js";
export { deliverWebhook, signWebhook, verifyWebhook } from "./webhook.js";
export { type ServiceWorker, startWorker, type WorkerOptions } from "./worker.js";
