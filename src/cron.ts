// Cron schedules: which task to enqueue on which ticks, in which time zone. A tick's job is
// enqueued once however many workers run the schedule: the enqueue script keeps the last
// tick each schedule enqueued and refuses older or equal ones.

import { Cron } from 'croner';
import { ConfigError } from './errors.js';
import { parseDuration, type Duration } from './duration.js';

export interface CronOptions {
  /** Unique schedule name (default: the task name). */
  name?: string;
  /** IANA time zone the pattern is read in, like 'Europe/Berlin' (default UTC). */
  tz?: string;
  /** Arguments the task is enqueued with. */
  args?: unknown[];
  /** Also enqueue once when each worker starts. */
  runAtStartup?: boolean;
  /** A tick missed by more than this (workers down) is skipped (default 1 minute). */
  maxDrift?: Duration;
  priority?: string;
}

export interface ScheduleDefinition {
  name: string;
  pattern: string;
  tz: string | undefined;
  task: string;
  queue: string;
  args: unknown[];
  maxDriftMs: number;
  runAtStartup: boolean;
  priority: string | undefined;
  /** 'code': defined by app.cron in the workers' code; 'runtime': stored in Redis. */
  source: 'code' | 'runtime';
}

export interface ScheduleInfo extends ScheduleDefinition {
  /** Epoch ms of the next tick. */
  nextRunAt: number | undefined;
}

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

export function defineSchedule(pattern: string, task: string, queue: string, options: CronOptions, source: ScheduleDefinition['source']): ScheduleDefinition {
  const name = options.name ?? task;
  if (!NAME.test(name)) throw new ConfigError('cron.name', "1-100 letters, digits, '_', '.', ':' or '-'", name);
  if (options.args !== undefined && !Array.isArray(options.args)) throw new ConfigError('cron.args', 'an array of task arguments', options.args);
  const def: ScheduleDefinition = {
    name,
    pattern,
    tz: options.tz,
    task,
    queue,
    args: options.args ?? [],
    maxDriftMs: parseDuration(options.maxDrift ?? 60_000, 'cron.maxDrift'),
    runAtStartup: options.runAtStartup ?? false,
    priority: options.priority,
    source,
  };
  cronOf(def);
  return def;
}

function cronOf(def: Pick<ScheduleDefinition, 'pattern' | 'tz'>): Cron {
  try {
    const cron = new Cron(def.pattern, { timezone: def.tz, paused: true });
    cron.nextRun(); // a bad time zone only shows when a run is computed
    return cron;
  } catch (err) {
    const what = def.tz && /time ?zone/i.test(String(err)) ? 'cron.tz' : 'cron pattern';
    throw new ConfigError(
      what,
      what === 'cron.tz' ? "an IANA time zone like 'Europe/Berlin'" : "a cron pattern like '0 3 * * *' (minute hour day month weekday, optional leading seconds)",
      what === 'cron.tz' ? def.tz : def.pattern,
    );
  }
}

/** The latest tick at or before `now` (epoch ms), if any. */
export function latestTick(def: ScheduleDefinition, now: number): number | undefined {
  // Croner counts in whole seconds and answers runs strictly before the date it is given: the
  // start of the next second, so that a tick at exactly `now` counts and none after it does.
  const [prev] = cronOf(def).previousRuns(1, new Date(Math.floor(now / 1000) * 1000 + 1000));
  return prev?.getTime();
}

/** The first tick after `now` (epoch ms), if any. */
export function nextTick(def: ScheduleDefinition, now: number): number | undefined {
  return cronOf(def).nextRun(new Date(now))?.getTime();
}

export function cronJobId(def: ScheduleDefinition, tick: number): string {
  return `cron:${def.name}:${tick}`;
}
