export {
  buildHttpApp,
  buildInternalApp,
  serverTimeouts,
  JSON_BODY_LIMIT,
  type HttpAppDeps,
  type InternalAppDeps,
} from './app.js'
export { startHttpServer, type RunningHttpServer, type StartOptions } from './server.js'
export { signToken, createTokenVerifier, type SignTokenOptions, type TokenVerifier, type AuthConfig } from './auth.js'
export { createMetrics, METRIC_NAMES, type Metrics, type MetricsOptions } from './metrics.js'
export { contentDisposition } from '../storage/index.js'
export {
  toProblem,
  toLocalexError,
  problemResponse,
  writeProblem,
  type Problem,
  type ProblemResponse,
} from './problem.js'
export {
  createDiskDeliveryHandler,
  createDiskUploadHandler,
  type NodeRequestHandler,
  type DiskHandlerOptions,
} from './disk-handlers.js'
export { deliver, parseRange, type Delivery, type DeliveryPolicy, type DeliveryRequest } from './delivery-core.js'
export type { HealthProbes } from './health.js'
export { redactUrl } from './log.js'
export { MULTIPART_LIMITS } from './multipart.js'
