// Worker child processes for the scenarios: started with the fixture app, their output kept,
// killed by pid (never by name), and all of a scenario's children reaped at its end.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Variables that would override the spec's Redis URL, prefix or secret (they win over code). */
export const OVERRIDING_ENV = [
  'REDIS_URL', 'MILLRACE_REDIS_URL', 'REDIS_URL_LOCAL', 'MILLRACE_REDIS_URL_LOCAL', 'REDIS_DB', 'MILLRACE_REDIS_DB',
  'REDIS_USERNAME', 'MILLRACE_REDIS_USERNAME', 'REDIS_PASSWORD', 'MILLRACE_REDIS_PASSWORD', 'MILLRACE_PREFIX', 'MILLRACE_SIGNING_SECRET',
  'REDIS_SENTINELS', 'MILLRACE_REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'MILLRACE_REDIS_SENTINEL_MASTER', 'REDIS_CLUSTER_NODES', 'MILLRACE_REDIS_CLUSTER_NODES',
];

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerSpec {
  redis: string;
  prefix: string;
  ledger: string;
  tag: string;
  idleTimeout?: number;
  concurrency?: number;
  prefetch?: number;
  maxRecoveries?: number;
  maxHoldMs?: number;
  graceMs?: number;
  clockSkewMs?: number;
  logLevel?: string;
  /** Throwing listeners and middleware (chaos/lib/fixture.ts, child.ts). */
  misbehave?: boolean;
  /** Also serve the queue 'capped' under this global concurrency cap (chaos/lib/fixture.ts). */
  cap?: number;
  /** Also serve the queue 'grouped', its fair groups capped at this many jobs each (chaos/lib/fixture.ts). */
  groupCap?: number;
  /** Also serve the queue 'fanin' (chaos/lib/fixture.ts, scenario 22). */
  fanIn?: boolean;
}

export class WorkerProc {
  readonly proc: ChildProcess;
  private out = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly spec: WorkerSpec) {
    const env: Record<string, string> = {
      ...process.env as Record<string, string>,
      CHAOS_REDIS: spec.redis, CHAOS_PREFIX: spec.prefix, CHAOS_LEDGER: spec.ledger, CHAOS_TAG: spec.tag,
      CHAOS_IDLE_TIMEOUT: String(spec.idleTimeout ?? 2000), CHAOS_CONCURRENCY: String(spec.concurrency ?? 10),
      CHAOS_PREFETCH: String(spec.prefetch ?? 0), CHAOS_MAX_RECOVERIES: String(spec.maxRecoveries ?? 3),
      CHAOS_GRACE_MS: String(spec.graceMs ?? 2000), CHAOS_CLOCK_SKEW_MS: String(spec.clockSkewMs ?? 0),
      CHAOS_LOG_LEVEL: spec.logLevel ?? 'warn', MILLRACE_HEALTH_FILE: 'false', CHAOS_MISBEHAVE: spec.misbehave ? '1' : '0',
    };
    // The app's settings come from the spec only.
    for (const k of OVERRIDING_ENV) delete env[k];
    // The spec's log level governs (the test suite sets MILLRACE_LOG_LEVEL=silent, which would
    // win over the code's level and hide the warnings a scenario reads).
    delete env.MILLRACE_LOG_LEVEL;
    if (spec.maxHoldMs !== undefined) env.CHAOS_MAX_HOLD_MS = String(spec.maxHoldMs);
    if (spec.cap !== undefined) env.CHAOS_CAP = String(spec.cap);
    if (spec.groupCap !== undefined) env.CHAOS_GROUP_CAP = String(spec.groupCap);
    if (spec.fanIn) env.CHAOS_FAN_IN = '1';
    this.proc = spawn(process.execPath, ['--import', 'tsx', CHILD], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Everything the process wrote (pino JSON lines and any crash output). */
  output(): string {
    return this.out;
  }

  /** Log lines whose message contains `text`. */
  logged(text: string): number {
    return this.out.split('\n').filter((l) => l.includes(text)).length;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) this.proc.kill(signal);
  }
}

/** Starts and tracks a scenario's worker processes. */
export class Fleet {
  readonly workers: WorkerProc[] = [];

  start(spec: WorkerSpec): WorkerProc {
    const w = new WorkerProc(spec);
    this.workers.push(w);
    return w;
  }

  /** SIGKILLs every process still alive and waits for them. */
  async reap(): Promise<void> {
    for (const w of this.workers) w.kill('SIGKILL');
    await Promise.all(this.workers.map((w) => w.exited));
  }
}
