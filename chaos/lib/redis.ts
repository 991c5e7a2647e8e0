// A private redis-server for scenarios that kill, restart or fill Redis: its own free port
// and temp directory, so the shared test Redis is never touched.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, sleep } from './util.js';

export interface RedisOptions {
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
  /** e.g. '8mb' */
  maxmemory?: string;
  maxmemoryPolicy?: string;
  /** More redis-server arguments, e.g. ['--rename-command', 'CONFIG', '']. */
  extraArgs?: string[];
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly options: RedisOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'millrace-chaos-redis-'));
  }

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.up();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Starts the server (again, on the same port and directory, so an AOF is replayed). */
  async up(): Promise<void> {
    if (this.proc) return;
    const o = this.options;
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', o.appendonly ? 'yes' : 'no', '--appendfsync', o.appendfsync ?? 'everysec',
      '--maxmemory', o.maxmemory ?? '0', '--maxmemory-policy', o.maxmemoryPolicy ?? 'noeviction',
      '--loglevel', 'warning', '--logfile', '', ...(o.extraArgs ?? []),
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    proc.on('exit', () => {
      if (this.proc === proc) this.proc = undefined;
    });
    await this.waitReady();
  }

  /** kill -9: the server dies at once; only what it fsynced survives. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.proc = undefined;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.up();
  }

  /** A client on this server (the caller disconnects it). */
  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        // While an AOF loads, commands answer LOADING.
        if ((await c.ping()) === 'PONG') return;
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
