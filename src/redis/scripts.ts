// Loads each Lua script once per connection and calls it with named keys and arguments.
//
// A script's `.lua` header lists its KEYS and ARGV; the spec below names them in the same
// order (test/scripts.test.ts checks that they agree), and `callScript` lays the named
// values out in that order, so no call site builds a positional list by hand.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isCluster, type Conn } from './topology.js';

export type { Conn };
export type ScriptArg = string | number | Buffer;

export interface ScriptSpec<K extends string, A extends string> {
  readonly file: string;
  readonly keys: readonly K[];
  readonly args: readonly A[];
  /** The queue's ready streams follow the named keys. */
  readonly streams: boolean;
}

function spec<const K extends string, const A extends string>(
  file: string,
  keys: readonly K[],
  args: readonly A[],
  streams = true,
): ScriptSpec<K, A> {
  return { file, keys, args, streams };
}

export const SCRIPTS = {
  enqueue: spec('enqueue', ['last_id', 'delayed', 'job_prefix', 'result_prefix', 'events', 'guard', 'call', 'group_prefix', 'ring', 'rest', 'full', 'paused_groups', 'bell'], ['queue', 'events_max', 'tick', 'plan', 'dues', 'channel', 'groups']),
  fetch: spec('fetch', ['paused', 'taken', 'rate', 'hold', 'job_prefix', 'last_id', 'held_prefix', 'group_rate_prefix', 'group_limits', 'group_credit', 'group_prefix', 'ring', 'rest', 'full', 'paused_groups', 'bell'],
    ['group', 'consumer', 'count', 'cap', 'rate_max', 'rate_per', 'grouped', 'group_cap', 'group_rate_max', 'group_rate_per']),
  groupctl: spec('groupctl', ['group_prefix', 'ring', 'rest', 'full', 'paused_groups', 'bell'], ['action', 'group', 'ms'], false),
  pause: spec('pause', ['paused'], ['paused', 'channel'], false),
  hold: spec('hold', ['hold'], ['ms', 'channel'], false),
  groups: spec('groups', [], ['group']),
  complete: spec('complete', ['result_prefix', 'job_prefix', 'waiters', 'aborting', 'taken', 'wf_notes', 'watch', 'full', 'bell'], ['group', 'consumer', 'done_channel', 'levels']),
  retry: spec('retry', ['delayed', 'job_prefix', 'last_id', 'stream', 'aborting', 'result_prefix', 'waiters', 'dlq', 'wf_notes', 'watch', 'full', 'bell'],
    ['group', 'consumer', 'entry', 'token', 'id', 'level', 'attempt', 'delay', 'error', 'aborted', 'ttl', 'done_channel', 'queue', 'channel'], false),
  dead: spec('dead', ['dlq', 'job_prefix', 'result_prefix', 'waiters', 'stream', 'aborting', 'taken', 'wf_notes', 'watch', 'full', 'bell'],
    ['group', 'consumer', 'entry', 'token', 'id', 'done_channel', 'queue', 'level', 'reason', 'error',
      'stack', 'attempts', 'worker', 'record', 'ttl', 'use_dlq', 'h', 'd'], false),
  requeue: spec('requeue', ['last_id', 'job_prefix', 'aborting', 'result_prefix', 'waiters', 'dlq', 'wf_notes', 'watch'], ['group', 'consumer', 'done_channel', 'ttl', 'queue']),
  dropworker: spec('dropworker', ['last_id', 'job_prefix', 'aborting', 'result_prefix', 'waiters', 'dlq', 'taken', 'health', 'wf_notes', 'watch'],
    ['group', 'consumer', 'done_channel', 'ttl', 'queue', 'stale_ms', 'max']),
  touch: spec('touch', ['aborting', 'job_prefix'], ['group', 'consumer']),
  reclaim: spec('reclaim', ['dlq', 'job_prefix', 'result_prefix', 'waiters', 'aborting', 'wf_notes', 'watch'],
    ['group', 'consumer', 'min_idle', 'count', 'max_recoveries', 'done_channel', 'queue', 'ttl', 'suspect_at', 'suspect_idle', 'since']),
  promote: spec('promote', ['delayed', 'last_id', 'job_prefix', 'dlq', 'group_prefix', 'ring', 'rest', 'full', 'paused_groups', 'bell'], ['count', 'queue']),
  abort: spec('abort', ['delayed', 'job_prefix', 'result_prefix', 'waiters', 'aborting', 'wf_notes', 'watch', 'group_prefix', 'ring', 'rest', 'full', 'paused_groups', 'bell'],
    ['id', 'group', 'done_channel', 'abort_channel', 'record', 'ttl']),
  locate: spec('locate', ['delayed', 'job_prefix', 'result_prefix', 'aborting'], ['id', 'group']),
  replay: spec('replay', ['dlq', 'last_id', 'job_prefix', 'result_prefix', 'group_prefix', 'ring', 'rest', 'full', 'paused_groups', 'bell'], ['reset_attempts', 'default_level']),
  unschedule: spec('unschedule', ['delayed', 'job_prefix'], ['id'], false),
  heartbeat: spec('heartbeat', ['workers', 'worker'], ['id', 'entry', 'ttl'], false),
  health: spec('health', ['health', 'seen', 'history'], ['record', 'ttl', 'completed', 'failed', 'landed_completed', 'landed_failed', 'minute', 'history_ttl', 'seen_ttl'], false),
  peek: spec('peek', ['delayed', 'job_prefix'], ['start', 'count'], false),
  unnote: spec('unnote', ['wf_notes'], [], false),
  watch: spec('watch', ['result_prefix', 'watch'], ['id', 'place'], false),
  wfcreate: spec('wfcreate', ['wf'], ['ttl', 'stages'], false),
  wfstarted: spec('wfstarted', ['wf'], ['stage'], false),
  wfstep: spec('wfstep', ['wf', 'results', 'failed'], ['stage', 'index', 'outcome', 'value', 'reason'], false),
  wfabort: spec('wfabort', ['wf', 'results', 'failed'], ['reason'], false),
  take: spec('take', ['job_prefix', 'stream', 'taken'], ['group', 'consumer', 'entry', 'token', 'id', 'level'], false),
} as const;

export type ScriptName = keyof typeof SCRIPTS;

const LUA_DIR = fileURLToPath(new URL('./lua/', import.meta.url));
const sources = new Map<string, string>();

/** The script's source with `-- @include name` lines replaced by the named file. */
export function scriptSource(file: string): string {
  let src = sources.get(file);
  if (src === undefined) {
    src = readFileSync(`${LUA_DIR}${file}.lua`, 'utf8').replace(
      /^-- @include (\w+)$/gm,
      (_, name: string) => readFileSync(`${LUA_DIR}${name}.lua`, 'utf8'),
    );
    sources.set(file, src);
  }
  return src;
}

const defined = new WeakSet<object>();

/**
 * On a Cluster, the scripts' notices are sharded: SPUBLISH reaches the subscribers of the
 * channel's slot (every channel shares its queue's hash tag), where PUBLISH would be copied to
 * every node of the Cluster.
 */
export function clusterSource(file: string): string {
  return scriptSource(file).replace(/redis\.call\('PUBLISH',/g, "redis.call('SPUBLISH',");
}

function ensureDefined(conn: Conn): void {
  if (defined.has(conn)) return;
  const source = isCluster(conn) ? clusterSource : scriptSource;
  for (const s of Object.values(SCRIPTS)) {
    conn.defineCommand(`millrace_${s.file}`, { lua: source(s.file) });
  }
  defined.add(conn);
}

export interface ScriptCall<K extends string, A extends string> {
  keys: Record<K, string>;
  streams?: readonly string[];
  args: Record<A, ScriptArg>;
  /** Repeated per-item argument groups that follow the named arguments. */
  rest?: readonly ScriptArg[];
  /** Return binary-safe Buffers instead of strings. */
  buffers?: boolean;
}

export async function callScript<K extends string, A extends string>(
  conn: Conn,
  script: ScriptSpec<K, A>,
  call: ScriptCall<K, A>,
): Promise<unknown> {
  ensureDefined(conn);
  // One flat array, built without spreading into calls: a bulk enqueue of 40,000 jobs would
  // pass 200,000 arguments, past the engine's call-stack limit (ioredis flattens it).
  const keys: string[] = script.keys.map((k) => call.keys[k]);
  if (script.streams) for (const s of call.streams ?? []) keys.push(s);
  const argv: unknown[] = [keys.length];
  for (const k of keys) argv.push(k);
  for (const a of script.args) argv.push(call.args[a]);
  if (call.rest) for (const r of call.rest) argv.push(r);
  const name = `millrace_${script.file}${call.buffers ? 'Buffer' : ''}`;
  const fn = (conn as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!;
  return fn.call(conn, argv);
}
