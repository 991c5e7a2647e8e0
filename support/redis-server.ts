// A private redis-server for tests, the bench and chaos scenarios: its own free port and temp
// directory, so the shared Redis on 6379 is never touched; can be killed and restarted in place.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions as ClientOptions } from 'ioredis';

/** The shared Redis: a private server must never land on it. */
const SHARED_PORT = 6379;

export interface RedisServerOptions {
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
  /** e.g. '8mb' */
  maxmemory?: string;
  maxmemoryPolicy?: string;
  /** More redis-server arguments, e.g. ['--rename-command', 'CONFIG', '']. */
  extraArgs?: string[];
  /** Name prefix of the temp directory. */
  dirPrefix?: string;
}

/** A TCP port nobody listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), options.dirPrefix ?? 'millrace-redis-'));
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    // freePort() releases the port before redis-server binds it, so a server started at the same
    // moment (tests run in parallel) may take it: then this one exits, and another port is tried.
    for (let tries = 1; ; tries++) {
      const port = await freePort();
      if (port === SHARED_PORT) continue;
      const server = new RedisServer(port, options);
      try {
        await server.up();
        return server;
      } catch (err) {
        await server.stop();
        if (tries >= 5) throw err;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Starts the server (again, on the same port and directory, so an AOF is replayed) and waits until it answers. */
  async up(): Promise<void> {
    if (this.proc) return;
    const o = this.options;
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', o.appendonly ? 'yes' : 'no', '--appendfsync', o.appendfsync ?? 'everysec',
      '--maxmemory', o.maxmemory ?? '0', '--maxmemory-policy', o.maxmemoryPolicy ?? 'noeviction',
      '--loglevel', 'warning', '--logfile', '', ...(o.extraArgs ?? []),
    ];
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    this.proc = proc;
    proc.on('exit', () => {
      if (this.proc === proc) this.proc = undefined;
    });
    await this.waitReady();
  }

  /** kill -9: the server dies at once; only what it fsynced survives. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.up();
  }

  /** A client on this server (the caller disconnects it). */
  client(options: ClientOptions = {}): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100, ...options });
  }

  /** The running server's version, from INFO. */
  async version(): Promise<string> {
    const c = this.client();
    try {
      return /redis_version:(\S+)/.exec(await c.info('server'))?.[1] ?? 'unknown';
    } finally {
      c.disconnect();
    }
  }

  /** Stops the server (kill -9, or with `graceful` SIGTERM and SIGKILL after 3 s) and removes its directory. */
  async stop({ graceful = false } = {}): Promise<void> {
    await this.signal(graceful ? 'SIGTERM' : 'SIGKILL', graceful ? 3000 : undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Sends `sig` and waits for the exit; after `killAfter` ms it sends SIGKILL. */
  private async signal(sig: NodeJS.Signals, killAfter?: number): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(sig);
    if (killAfter !== undefined && (await Promise.race([exited.then(() => true), sleep(killAfter, false)])) === false) proc.kill('SIGKILL');
    await exited;
    this.proc = undefined;
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 20_000;
    const pid = this.proc?.pid;
    for (;;) {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined); // refused while the server boots: retried below
      try {
        await c.connect();
        // While an AOF loads, commands answer LOADING. The server answering must be ours: another
        // one may hold the port (then ours exits, see start()).
        if ((await c.ping()) === 'PONG' && Number(/process_id:(\d+)/.exec(await c.info('server'))?.[1]) === pid) return;
      } catch {
        // not up yet
      } finally {
        c.disconnect();
      }
      if (!this.proc) throw new Error(`redis-server on port ${this.port} exited while starting`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start`);
      await sleep(30);
    }
  }
}
