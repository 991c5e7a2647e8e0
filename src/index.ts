// millrace: a background task queue and worker framework for TypeScript, on Redis Streams.

export { Millrace, type MillraceOptions } from './app.js';
export { Registry, Queue, Task, type TaskCall, type ThreadTaskOptions } from './registry.js';
export { Job } from './job.js';
export { DeadLetterQueue } from './client.js';
export { MemoryBroker, type MemoryBrokerOptions } from './memory/broker.js';
export { MemoryInspector } from './memory/inspector.js';
export { ManualClock, type Clock } from './memory/clock.js';
export { Worker, type WorkerOptions, type WorkerStats, type HealthReport } from './worker/worker.js';
export type { ThreadPoolOptions } from './worker/threads.js';
export type { ProcessorStats as QueueStats } from './worker/processor.js';
export {
  MillraceError, ConfigError, Retry, RateLimited, JobTimeoutError, JobAbortedError, ShutdownError, LeaseLostError,
  JobExpiredError, JobFailedError, ResultTimeoutError, JobNotFoundError, BadJobError, NotDurableError,
} from './errors.js';
export { SentinelsUnreachableError } from './redis/sentinels.js';
export { parseDuration, type Duration } from './duration.js';
export { jsonSerializer, msgpackSerializer, type Serializer, type SerializerOption } from './serializer.js';
export type {
  BackoffOptions, BrokerOption, DurabilityOptions, EnqueueOptions, GroupOptions, QueueOptions, TaskOptions, Retention, ErrorClass,
} from './options.js';
export type { GroupLimitsOptions } from './groups.js';
export type {
  JobContext, Handler, JobStatus, JobInfo, JobError, Middleware, OutgoingJob, Logger,
} from './types.js';
export type { AbortOutcome, DeadLetterEntry, GroupOverride, GroupSummary, JobSummary, QueueCounts, WorkerEntry } from './broker/types.js';
export type { RedisOption, RedisSettings } from './settings.js';
export { resolveConfig, SETTINGS, type Layer, type Resolved, type Scope, type SettingKey, type Settings, type Source } from './config.js';
export { EventHub, type EventMap, type EventType, type EventOf, type MillraceEvent } from './events.js';
export type { StoredEvent } from './broker/types.js';
export type { CronOptions, ScheduleDefinition, ScheduleInfo } from './cron.js';
export {
  after, After, chain, chord, group, Flow, Group, Signature, type GroupResults, type JobRef, type Settled,
} from './workflow/definition.js';
export type { FailurePolicy, WorkflowState } from './broker/workflows.js';
export {
  WorkflowAbortedError, WorkflowFailedError, WorkflowHandle, WorkflowNotFoundError,
  type NodeStatus, type StageStatus, type StartOptions, type WorkflowStatus,
} from './workflow/runner.js';
