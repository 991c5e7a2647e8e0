// The worker's flags as a settings layer, shared by `millrace worker` and `millrace config`, and
// the check of every setting from the environment (.env read) and those flags.

import { checkHeartbeat, checkTls, resolveConfig, type Layer, type Resolved } from '../config.js';

/** The worker flags as commander gives them: durations as the text typed, for messages to quote. */
export interface WorkerFlagValues {
  queue?: string | string[];
  concurrency?: number | string;
  workers?: number | string;
  shutdownTimeout?: string;
  heartbeatInterval?: string;
  heartbeatTtl?: string;
  dlq?: boolean;
  logLevel?: string;
}

/** The flags layer of src/config.ts: it wins over the environment, which wins over code options. */
export function flagLayer(flags: WorkerFlagValues): Layer {
  return {
    queues: flags.queue, concurrency: flags.concurrency, processes: flags.workers, shutdownTimeout: flags.shutdownTimeout,
    heartbeatInterval: flags.heartbeatInterval, heartbeatTtl: flags.heartbeatTtl, deadLetter: flags.dlq, logLevel: flags.logLevel,
  };
}

/**
 * Every setting from the environment and the flags, checked as a worker would check them (the
 * heartbeat TTL against the interval too, and the TLS files together); a bad one throws a
 * ConfigError naming it.
 */
export function resolveSettings(flags: WorkerFlagValues, env: NodeJS.ProcessEnv = process.env): Resolved {
  const resolved = resolveConfig({}, env, flagLayer(flags));
  checkHeartbeat(resolved);
  checkTls(resolved);
  return resolved;
}
