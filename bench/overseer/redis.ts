// Counting what Redis does: INFO stats and commandstats deltas, MONITOR for the exact commands,
// SLOWLOG (at 0 µs) for the time of each command. The bench's own bookkeeping commands are left
// out of every count.

import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SCRIPTS, scriptSource } from '../../src/redis/scripts.js';
import { round, sleep } from './config.js';

const num = (info: string, key: string) => Number(new RegExp(`^${key}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);

export async function infoNumber(admin: Redis, section: string, key: string): Promise<number> {
  return num(await admin.info(section), key);
}

/** INFO stats total_commands_processed: the INFO that reads it is not in it (it is in the next). */
export async function commandsProcessed(admin: Redis): Promise<number> {
  return infoNumber(admin, 'stats', 'total_commands_processed');
}

export async function commandStats(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** Commands of the bench's own bookkeeping (commandstats names subcommands `config|set`). */
const OWN = new Set(['info', 'slowlog', 'config', 'monitor', 'ping']);
export const isOwn = (cmd: string | undefined) => OWN.has((cmd ?? '').toLowerCase().split('|')[0]!);

export function callsDelta(before: Map<string, number>, after: Map<string, number>, per = 1): Record<string, number> {
  const out: [string, number][] = [];
  for (const [cmd, n] of after) {
    const d = n - (before.get(cmd) ?? 0);
    if (d > 0 && !isOwn(cmd)) out.push([cmd, round(d / per, 2)]);
  }
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}

/** Script names by the SHA1 ioredis calls them with (EVALSHA). */
const SCRIPT_BY_SHA = new Map(Object.values(SCRIPTS).map((s) => [createHash('sha1').update(scriptSource(s.file)).digest('hex'), s.file]));

const fold = (a: string) => a.replace(/\d{10,}-\d+/g, '<id>').replace(/\d{10,}/g, '<ms>').replace(/\d{8}-\d{6}-[0-9a-f]{4}/g, '<run>');

/** A command as text: long arguments cut, ids folded, a script named. */
export function shape(args: string[]): string {
  const name = (args[0] ?? '').toUpperCase();
  const rest = args.slice(1).map((a, i) => {
    if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && i === 0) return `<${SCRIPT_BY_SHA.get(a) ?? a.slice(0, 8)}.lua>`;
    const folded = fold(a);
    return folded.length > 40 ? `${folded.slice(0, 37)}...` : folded;
  });
  const text = [name, ...rest].join(' ');
  return text.length > 110 ? `${text.slice(0, 107)}...` : text;
}

/** A read of a whole key, or of more than 1,000 entries: `COMMAND key` (ids folded), else undefined. */
export function wholeRead(args: string[]): string | undefined {
  const name = (args[0] ?? '').toUpperCase();
  const a = args.slice(1);
  const key = fold(a[0] ?? '');
  const countOf = () => {
    const i = a.findIndex((x) => x.toUpperCase() === 'COUNT');
    return i < 0 ? undefined : Number(a[i + 1]);
  };
  if (name === 'KEYS') return `KEYS ${key}`;
  if ((name === 'XRANGE' || name === 'XREVRANGE') && countOf() === undefined && a[1] !== a[2]) return `${name} ${key} (no COUNT)`;
  if ((name === 'XRANGE' || name === 'XREVRANGE') && (countOf() ?? 0) > 1000) return `${name} ${key} COUNT ${countOf()}`;
  if ((name === 'ZRANGE' || name === 'ZREVRANGE' || name === 'LRANGE') && a[1] === '0' && a[2] === '-1') return `${name} ${key} 0 -1`;
  if (name === 'HGETALL' || name === 'SMEMBERS') return `${name} ${key}`;
  if (name === 'XPENDING' && a.length >= 5 && Number(a[4]) > 1000) return `XPENDING ${key} count ${a[4]}`;
  if (name === 'SCAN' && (countOf() ?? 10) > 1000) return `SCAN COUNT ${countOf()}`;
  return undefined;
}

export interface Monitored {
  /** Distinct commands (as shape()) with how many times, in first-seen order. */
  commands: [string, number][];
  topLevel: number;
  inScripts: number;
  /** Whole-key reads (wholeRead), distinct. */
  wholeReads: string[];
}

/** The commands `fn` makes Redis run, from MONITOR (nothing else may run meanwhile). */
export async function monitored(admin: Redis, fn: () => Promise<unknown>): Promise<Monitored> {
  const mon = await admin.monitor();
  const seen: { args: string[]; source: string }[] = [];
  mon.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
  await sleep(30);
  await fn();
  await sleep(150); // the last lines arrive
  mon.disconnect();
  const mine = seen.filter((s) => !isOwn(s.args[0]));
  const counts = new Map<string, number>();
  for (const s of mine) {
    const key = (s.source === 'lua' ? '  (script) ' : '') + shape(s.args);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const wholeReads = [...new Set(mine.flatMap((s) => wholeRead(s.args) ?? []))];
  return { commands: [...counts], topLevel: mine.filter((s) => s.source !== 'lua').length, inScripts: mine.filter((s) => s.source === 'lua').length, wholeReads };
}

export interface SlowEntry {
  us: number;
  args: string[];
}

/** SLOWLOG GET (all kept entries) without the bench's own commands. */
export async function slowlog(admin: Redis): Promise<SlowEntry[]> {
  const raw = (await admin.slowlog('GET', 1_000_000)) as [number, number, number, string[]][];
  return raw.map((e) => ({ us: Number(e[2]), args: e[3].map(String) })).filter((e) => !isOwn(e.args[0]));
}

export const slowest = (entries: SlowEntry[]) => entries.reduce<SlowEntry | undefined>((m, e) => (!m || e.us > m.us ? e : m), undefined);

/** SLOWLOG logs every command from now on: 3 commands. */
export async function resetSlowlog(admin: Redis): Promise<void> {
  await admin.config('SET', 'slowlog-log-slower-than', '0');
  await admin.config('SET', 'slowlog-max-len', '1000000');
  await admin.slowlog('RESET');
}
