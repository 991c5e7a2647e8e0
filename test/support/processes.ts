// Redis server processes of the tests' own: free ports, a temporary folder, start and stop by
// pid (the shared Redis is never touched), and polling for a state with a named timeout.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
export const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli';
export const HOST = '127.0.0.1';

/** A port nothing listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** `n` distinct ports nothing listens on now (each held until all are found). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => resolve(server));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves when `check` is truthy; rejects after `timeout` ms naming what it waited for. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeout = 20_000): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(50);
  }
}

/** Processes still running in any group: killed on exit if a stop() never ran. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
});

/** The arguments of a data node on `port` that keeps nothing on disk. */
export function nodeArgs(port: number, dir: string): string[] {
  return [
    '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir,
    '--dbfilename', `dump-${port}.rdb`, '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
    '--protected-mode', 'no',
  ];
}

/** Servers started in one temporary folder, with test connections to them, all ended by stop(). */
export class ServerGroup {
  readonly dir: string;
  private readonly children: ChildProcess[] = [];
  private readonly clients: Redis[] = [];
  private stopping = false;

  constructor(private readonly label: string) {
    this.dir = mkdtempSync(join(tmpdir(), `millrace-${label}-`));
  }

  /** How each process was started, for restart(). */
  private readonly specs = new Map<ChildProcess, { name: string; args: string[] }>();

  /** Starts the process again as it was first started (after kill()); returns the new process. */
  restart(child: ChildProcess): ChildProcess {
    const spec = this.specs.get(child);
    if (!spec) throw new Error('restart: not a process of this group');
    return this.start(spec.name, spec.args);
  }

  /** Starts `redis-server` with these arguments (in the group's folder). */
  start(name: string, args: string[]): ChildProcess {
    const child = spawn(REDIS_SERVER, args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => {
      running.delete(child);
      if (code && !this.stopping) console.error(`${this.label}: ${name} exited ${code}: ${stderr}`);
    });
    this.children.push(child);
    this.specs.set(child, { name, args });
    running.add(child);
    return child;
  }

  /** A test connection (few retries, errors silenced), closed by stop() or by drop(). */
  conn(port: number, options: RedisOptions = {}): Redis {
    const c = new Redis({ host: HOST, port, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 100, ...options });
    c.on('error', () => undefined);
    this.clients.push(c);
    return c;
  }

  /** Closes a test connection before stop(). */
  drop(c: Redis): void {
    const i = this.clients.indexOf(c);
    if (i >= 0) this.clients.splice(i, 1);
    c.disconnect();
  }

  /** Kills one process at once (SIGKILL), as a crash would; resolves when it exited. */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }

  /** Stops every process it started (SIGTERM, SIGKILL after 3 s) and removes its folder. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.clients.splice(0)) c.disconnect();
    await Promise.all(this.children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGTERM');
      const killer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The names of the millrace connections a server has now (CLIENT LIST). */
export async function clientNames(port: number): Promise<string[]> {
  const raw = new Redis({ host: HOST, port, maxRetriesPerRequest: 1 });
  try {
    const list = (await raw.client('LIST')) as string;
    return [...list.matchAll(/\bname=(millrace:\S+)/g)].map((m) => m[1]!);
  } finally {
    raw.disconnect();
  }
}
