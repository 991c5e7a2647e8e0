// The worker's thread pool for CPU-bound tasks (piscina): started on the first thread job,
// destroyed at stop, so workers without thread tasks never spawn threads.

import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { parseDuration, type Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { Context } from './jobContext.js';
import type { JobContext } from '../types.js';

export interface ThreadPoolOptions {
  /** Threads running thread tasks at once (default: os.availableParallelism()). */
  max?: number;
  /** A thread left idle this long is ended (default 30 s); the next thread job starts a new one. */
  idleTimeout?: Duration;
}

/** Where a thread task's function lives. */
export interface ThreadSpec {
  /** file: URL of the module. */
  module: string;
  export: string;
}

const ENTRY = new URL('./threadEntry.mjs', import.meta.url).href;

export class ThreadPool {
  private pool: Piscina | undefined;
  private readonly max: number;
  private readonly idleMs: number;

  constructor(options: ThreadPoolOptions = {}) {
    this.max = options.max ?? availableParallelism();
    if (!Number.isInteger(this.max) || this.max < 1) throw new ConfigError('worker.threads.max', 'an integer >= 1', options.max);
    this.idleMs = parseDuration(options.idleTimeout ?? 30_000, 'worker.threads.idleTimeout');
  }

  /** Runs the spec's function on a pool thread; aborting the signal ends that thread. */
  run(spec: ThreadSpec, args: unknown[], signal: AbortSignal): Promise<unknown> {
    this.pool ??= new Piscina({ filename: ENTRY, minThreads: 0, maxThreads: this.max, idleTimeout: this.idleMs });
    return this.pool.run({ module: spec.module, name: spec.export, args }, { signal });
  }

  /** Threads alive now. */
  get size(): number {
    return this.pool?.threads.length ?? 0;
  }

  async destroy(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }
}

/** A module given as a URL, file: URL string or absolute path, as a file: URL string. */
export function moduleUrl(module: URL | string, where: string): string {
  const accepted = 'a file: URL (new URL(\'./cpu.ts\', import.meta.url)) or an absolute path';
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw new ConfigError(where, accepted, module.href);
    return module.href;
  }
  if (typeof module === 'string' && module.startsWith('file:')) return new URL(module).href;
  if (typeof module === 'string' && module.startsWith('/')) return pathToFileURL(module).href;
  throw new ConfigError(where, accepted, module);
}

/** The handler of a thread task: hands the arguments to the worker's pool under the job's signal. */
export function threadHandler(spec: ThreadSpec): (ctx: JobContext<unknown>, ...args: unknown[]) => Promise<unknown> {
  return (ctx, ...args) => {
    const pool = ctx instanceof Context ? ctx.threads : undefined;
    if (!pool) throw new Error(`thread task '${ctx.task}' can only run in a millrace worker`);
    return pool.run(spec, args, ctx.signal);
  };
}
