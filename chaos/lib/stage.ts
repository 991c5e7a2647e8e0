// One scenario's world: a private redis-server, a ledger file, an enqueue-only client app,
// in-process workers, worker processes and proxies, all torn down by close().

import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Worker, WorkerOptions } from '../../src/index.js';
import { fixtureApp, type Fixture } from './fixture.js';
import { newLedger } from './ledger.js';
import { Fleet, OVERRIDING_ENV, type WorkerProc, type WorkerSpec } from './procs.js';
import { TcpProxy } from './proxy.js';
import type { Report, ScenarioResult } from './util.js';
import { RedisServer, type RedisServerOptions } from '../../support/redis-server.js';

export const PREFIX = 'chaos';

export interface InProcessWorker {
  fixture: Fixture;
  worker: Worker;
}

export class Stage {
  readonly fleet = new Fleet();
  private readonly apps: Fixture[] = [];
  private readonly workers: Worker[] = [];
  private readonly proxies: TcpProxy[] = [];
  private clientApp: Fixture | undefined;

  private constructor(
    readonly redis: RedisServer,
    readonly ledger: string,
  ) {}

  static async open(name: string, redis: RedisServerOptions = {}): Promise<Stage> {
    scrubEnvironment();
    return new Stage(await RedisServer.start({ dirPrefix: 'millrace-chaos-redis-', ...redis }), newLedger(name));
  }

  /** The enqueue-only app (same queue definition as the workers'). */
  get client(): Fixture {
    this.clientApp ??= this.track(fixtureApp({ redis: this.redis.url, prefix: PREFIX }));
    return this.clientApp;
  }

  /** Another app on this Redis (or a proxy's URL), tracked for closing. */
  app(settings: { redis?: string; tag?: string; idleTimeout?: number; maxHoldMs?: number; logger?: Logger; signingSecret?: string; cap?: number; groupCap?: number; fanIn?: boolean } = {}): Fixture {
    return this.track(fixtureApp({ redis: this.redis.url, prefix: PREFIX, ledger: this.ledger, ...settings }));
  }

  /** A worker in this process (it must never run the poison task). */
  async worker(
    settings: { redis?: string; tag: string; idleTimeout?: number; maxHoldMs?: number; logger?: Logger; signingSecret?: string },
    options: WorkerOptions = {},
  ): Promise<InProcessWorker> {
    const fixture = this.app(settings);
    const worker = fixture.app.worker({
      id: settings.tag, handleSignals: false, healthFile: false, blockTime: 1000, shutdownTimeout: 1000, concurrency: 10, ...options,
    });
    this.workers.push(worker);
    await worker.start();
    return { fixture, worker };
  }

  spawn(spec: Omit<WorkerSpec, 'redis' | 'prefix' | 'ledger'> & { redis?: string }): WorkerProc {
    return this.fleet.start({ redis: this.redis.url, prefix: PREFIX, ledger: this.ledger, ...spec });
  }

  async proxy(): Promise<TcpProxy> {
    const p = await TcpProxy.start(this.redis.port);
    this.proxies.push(p);
    return p;
  }

  private track(f: Fixture): Fixture {
    this.apps.push(f);
    return f;
  }

  /** Tears everything down; the ledger is kept (and its path logged) when asked, e.g. on failure. */
  async close(keepLedger = false): Promise<void> {
    await this.fleet.reap();
    for (const p of this.proxies) p.restore();
    if (!this.redis.running) await this.redis.up().catch(() => undefined);
    await Promise.all(this.workers.map((w) => withTimeout(w.stop({ grace: 0 }), 5000).catch(() => undefined)));
    await Promise.all(this.apps.map((a) => withTimeout(a.app.close(), 3000).catch(() => undefined)));
    for (const p of this.proxies) await p.close();
    await this.redis.stop();
    if (keepLedger) console.log(`ledger kept: ${this.ledger}`);
    else rmSync(dirname(this.ledger), { recursive: true, force: true });
  }
}

/**
 * Runs a scenario's body with a client on the stage's Redis: a throw is recorded as a failure,
 * then the client and the stage are closed (the ledger kept when a check failed).
 */
export async function runScenario(stage: Stage, r: Report, body: (redis: Redis) => Promise<void>): Promise<ScenarioResult> {
  const redis = stage.redis.client();
  try {
    await body(redis);
  } catch (err) {
    r.fail(err);
  } finally {
    redis.disconnect();
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}

/** Scenarios run on their own redis-server only: drop the settings that would point elsewhere. */
function scrubEnvironment(): void {
  for (const k of OVERRIDING_ENV) delete process.env[k];
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))])
    .finally(() => clearTimeout(timer));
}
