// Every Redis key and channel name millrace uses is built here, and nowhere else.
//
// All keys of one queue share the hash tag `{<prefix>:<queue>}`, so a queue lives in one
// Cluster slot and every script touching it is Cluster-safe; different queues spread out.

export interface QueueKeys {
  /** The hash-tagged base every key of the queue starts with. */
  readonly base: string;
  /** Ready streams, one per priority level, highest priority first. */
  readonly streams: readonly string[];
  /** Level names in the same order as `streams`. */
  readonly levels: readonly string[];
  /** Dead-letter stream. */
  readonly dlq: string;
  /** Sorted set of delayed jobs and scheduled retries, scored by due time (ms, server clock). */
  readonly delayed: string;
  /** Last entry id handed out, so ids are unique across all the queue's streams. */
  readonly lastId: string;
  /** Set of active job ids whose abort was requested. */
  readonly aborting: string;
  /** Prefix of per-job records (only for jobs that are not a plain stream entry). */
  readonly jobPrefix: string;
  /** Prefix of per-job result records. */
  readonly resultPrefix: string;
  /** Prefix of per-job "someone is waiting for this result" markers. */
  readonly waiterPrefix: string;
  /** Pub/sub channel carrying ids of jobs whose result landed while someone waited. */
  readonly doneChannel: string;
  /** Pub/sub channel carrying ids of active jobs to abort. */
  readonly abortChannel: string;
}

export const CONSUMER_GROUP = 'millrace';

const NAME = /^[A-Za-z0-9_.\-]{1,100}$/;

export function assertName(kind: string, name: string): void {
  if (!NAME.test(name)) {
    throw new TypeError(
      `invalid ${kind} name ${JSON.stringify(name)}: use 1-100 letters, digits, '_', '.' or '-'`,
    );
  }
}

export function queueKeys(prefix: string, queue: string, levels: readonly string[]): QueueKeys {
  const base = `{${prefix}:${queue}}`;
  const highestFirst = [...levels].reverse();
  return {
    base,
    levels: highestFirst,
    streams: highestFirst.map((level) => `${base}:s:${level}`),
    dlq: `${base}:dlq`,
    delayed: `${base}:delayed`,
    lastId: `${base}:id`,
    aborting: `${base}:aborting`,
    jobPrefix: `${base}:j:`,
    resultPrefix: `${base}:r:`,
    waiterPrefix: `${base}:w:`,
    doneChannel: `${base}:done`,
    abortChannel: `${base}:abort`,
  };
}

/** Set of queue names ever used under a prefix (for lookups that do not name a queue). */
export function queuesSetKey(prefix: string): string {
  return `${prefix}:queues`;
}
