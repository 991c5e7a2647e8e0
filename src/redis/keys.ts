// Every Redis key and channel name millrace uses is built here, and nowhere else.
//
// All keys of one queue share the hash tag `{<prefix>:<queue>}`, so a queue lives in one
// Cluster slot and every script touching it is Cluster-safe; different queues spread out.

import { ConfigError } from '../errors.js';
import { parseStorageName } from '../shards/index.js';
import { slotOf } from './topology.js';

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
  /**
   * Last entry id handed out, so ids are unique across all the queue's streams. A shard's key
   * ends in ":<shard>/<shards>": its ids' sequence numbers are its index modulo the count.
   */
  readonly lastId: string;
  /** Set of active job ids whose abort was requested. */
  readonly aborting: string;
  /** Hash of at-most-once jobs taken off their stream and running: id -> "worker|taken at ms". */
  readonly taken: string;
  /** Prefix of per-job records (only for jobs that are not a plain stream entry). */
  readonly jobPrefix: string;
  /** Prefix of per-job result records. */
  readonly resultPrefix: string;
  /** Sorted set of job ids someone waits for the result of, scored by when the wait ends (server ms). */
  readonly waiters: string;
  /** Capped stream of the queue's lifecycle events. */
  readonly events: string;
  /** Prefix of per-job progress values (written by the task). */
  readonly progressPrefix: string;
  /** Prefix of per-job log lines (lists, written by the task). */
  readonly logPrefix: string;
  /** Pub/sub channel carrying ids of jobs whose result landed while someone waited. */
  readonly doneChannel: string;
  /** Pub/sub channel carrying ids of active jobs to abort (and "|pause" / "|resume", never an id: ids hold no '|'). */
  readonly abortChannel: string;
  /** Set while the queue is paused. */
  readonly paused: string;
  /** The queue's rate-limit token bucket (hash: tokens `t` at server ms `at`), while it matters. */
  readonly rate: string;
  /** Set, with a TTL, while the queue is held (ctx.rateLimit: an upstream asked to wait). */
  readonly hold: string;
  /** Hash of workflow nodes' jobs ended by a script (no worker settled them): id -> outcome meta. */
  readonly wfNotes: string;
  /** Hash of jobs workflows wait on (after()): id -> JSON list of the places waiting. */
  readonly watch: string;
  /**
   * Fair groups (docs/flow-control.md#fair-groups): prefix of each group's list of waiting job
   * ids (`<groupPrefix><key>`), of its held set (`<heldPrefix><key>`, jobs served and not ended,
   * kept under a cap) and of its token bucket (`<groupRatePrefix><key>`).
   */
  readonly groupPrefix: string;
  readonly heldPrefix: string;
  readonly groupRatePrefix: string;
  /** Sorted set of the groups with jobs waiting to be served, scored by turn. */
  readonly ring: string;
  /** Sorted set of groups resting (held, or out of tokens), scored by when they may be served (server ms). */
  readonly rest: string;
  /** Set of groups at their concurrency cap (back in the ring once a permit frees). */
  readonly full: string;
  /** Set of paused groups. */
  readonly pausedGroups: string;
  /** Hash of the groups with limits of their own: key -> "cap|max|per|weight" ('' the queue's, 0 none). */
  readonly groupLimits: string;
  /** Hash of weighted groups in the middle of their turn: key -> jobs left of it. */
  readonly groupCredit: string;
  /** Stream of one entry, renewed whenever jobs join a group: a waiting capped read wakes on it. */
  readonly bell: string;
}

export const CONSUMER_GROUP = 'millrace';

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

export function assertName(kind: string, name: string): void {
  if (!NAME.test(name)) {
    throw new ConfigError(`${kind} name`, "1-100 letters, digits, '_', '.' or '-'", name);
  }
}

/**
 * The keys of a queue, or of one shard of a sharded queue (`queue` is then its storage name,
 * "hot#3/6": see src/shards).
 */
export function queueKeys(prefix: string, queue: string, levels: readonly string[]): QueueKeys {
  const shard = parseStorageName(queue);
  const base = shard.shard === undefined ? `{${prefix}:${queue}}` : shardTag(prefix, shard.name, shard.shard, shard.shards);
  const highestFirst = [...levels].reverse();
  return {
    base,
    levels: highestFirst,
    streams: highestFirst.map((level) => `${base}:s:${level}`),
    dlq: `${base}:dlq`,
    delayed: `${base}:delayed`,
    lastId: shard.shard === undefined ? `${base}:id` : `${base}:id:${shard.shard}/${shard.shards}`,
    aborting: `${base}:aborting`,
    taken: `${base}:taken`,
    jobPrefix: `${base}:j:`,
    resultPrefix: `${base}:r:`,
    waiters: `${base}:waiters`,
    events: `${base}:events`,
    progressPrefix: `${base}:pg:`,
    logPrefix: `${base}:log:`,
    doneChannel: `${base}:done`,
    abortChannel: `${base}:abort`,
    paused: `${base}:paused`,
    rate: `${base}:rate`,
    hold: `${base}:hold`,
    wfNotes: `${base}:wfnotes`,
    watch: `${base}:watch`,
    groupPrefix: `${base}:g:`,
    heldPrefix: `${base}:gh:`,
    groupRatePrefix: `${base}:gr:`,
    ring: `${base}:ring`,
    rest: `${base}:rest`,
    full: `${base}:full`,
    pausedGroups: `${base}:gpaused`,
    groupLimits: `${base}:glimits`,
    groupCredit: `${base}:gcredit`,
    bell: `${base}:bell`,
  };
}

/** The fair-groups keys a script takes (see fair.lua), by their names there. */
export function fairKeys(k: QueueKeys) {
  return { group_prefix: k.groupPrefix, ring: k.ring, rest: k.rest, full: k.full, paused_groups: k.pausedGroups, bell: k.bell };
}

const tags = new Map<string, string>();

/**
 * The hash tag of shard `shard` of `shards`: "{<prefix>:<queue>#<shard>.<k>}" with the smallest k
 * whose Cluster slot lies in the shard's N-th of the 16384 slots, so that masters owning equal
 * slot ranges hold equal numbers of shards (about N tries; made once per shard).
 */
function shardTag(prefix: string, queue: string, shard: number, shards: number): string {
  const id = `${prefix}:${queue}#${shard}/${shards}`;
  let tag = tags.get(id);
  if (tag === undefined) {
    const from = Math.floor((shard * 16384) / shards);
    const to = Math.floor(((shard + 1) * 16384) / shards);
    for (let k = 0; ; k++) {
      const candidate = `{${prefix}:${queue}#${shard}.${k}}`;
      const slot = slotOf(candidate);
      if (slot >= from && slot < to) {
        tag = candidate;
        break;
      }
    }
    tags.set(id, tag);
  }
  return tag;
}

/** Set of queue names ever used under a prefix (for lookups that do not name a queue). */
export function queuesSetKey(prefix: string): string {
  return `${prefix}:queues`;
}

/** Hash of queue name to its priority levels, lowest first, comma-separated. */
export function levelsKey(prefix: string): string {
  return `${prefix}:levels`;
}

/** Hash of cron schedule name to its definition (JSON). */
export function schedulesKey(prefix: string): string {
  return `${prefix}:cron`;
}

/**
 * Pub/sub channel telling workers the schedules changed: hash-tagged (sharded on a Cluster) and
 * under `{<prefix>:`, as every channel is, so one ACL channel pattern covers them all.
 */
export function schedulesChannel(prefix: string): string {
  return `{${prefix}:cron}:changed`;
}

/** The last tick (ms) a cron schedule enqueued, in its queue's slot. */
export function cronTickKey(queue: QueueKeys, schedule: string): string {
  return `${queue.base}:cron:${schedule}`;
}

/** SCAN patterns that match every key under a prefix (queue keys, registry keys, the rest). */
export function prefixPatterns(prefix: string): string[] {
  return [`{${prefix}:*`, `{${prefix}}:*`, `${prefix}:*`];
}

/** Sorted set of worker ids scored by their last heartbeat (server ms). */
export function workersKey(prefix: string): string {
  // Hash-tagged like the entries, so the heartbeat script touches one Cluster slot.
  return `{${prefix}}:workers`;
}

/** A worker's registry entry (JSON, expires after the heartbeat TTL). */
export function workerKey(prefix: string, workerId: string): string {
  return `{${prefix}}:worker:${workerId}`;
}

/**
 * The reply of one enqueue call, kept a minute under a token the client made for the call: a
 * call sent again after its reply was lost answers it instead of adding its jobs twice.
 */
export function callKey(queue: QueueKeys, token: string): string {
  return `${queue.base}:call:${token}`;
}

/** A worker's health record for one queue (counters, expires after the heartbeat TTL). */
export function healthKey(queue: QueueKeys, workerId: string): string {
  return `${queue.base}:health:${workerId}`;
}

/** A queue's throughput history of one UTC day ("yyyymmdd"): 1440 x 2 u32 counters (BITFIELD). */
export function throughputKey(queue: QueueKeys, day: string): string {
  return `${queue.base}:tp:${day}`;
}

/** The job totals ("completed:failed") a worker's last heartbeat brought for a queue, so a beat counts only their growth. */
export function throughputSeenKey(queue: QueueKeys, workerId: string): string {
  return `${queue.base}:tp:seen:${workerId}`;
}

/** A workflow's keys: its record, its nodes' records and its failed nodes, in one slot of its own. */
export function workflowKeys(prefix: string, id: string): { wf: string; results: string; failed: string; endChannel: string } {
  const base = `{${prefix}:wf:${id}}`;
  // endChannel: where the scripts announce its end (they build it as the record's key .. ':end').
  return { wf: base, results: `${base}:r`, failed: `${base}:f`, endChannel: `${base}:end` };
}
