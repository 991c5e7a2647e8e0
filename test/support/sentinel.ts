// A Redis Sentinel set of our own for tests: one master, two replicas and three sentinels
// (quorum 2) on free ports in a temporary folder, no persistence. Every process is started
// here and stopped here by its pid; the shared Redis is never touched.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const HOST = '127.0.0.1';

export interface SentinelSetOptions {
  /** Master name the sentinels monitor (default 'mymaster'). */
  name?: string;
  /** Also wait until every sentinel knows the other two (needed for a failover they agree on). */
  peers?: boolean;
}

export interface SentinelSet {
  name: string;
  /** The sentinels, as the `sentinels` setting takes them. */
  sentinels: { host: string; port: number }[];
  /** 'host:port,host:port,host:port', as REDIS_SENTINELS takes it. */
  sentinelList: string;
  /** Port of the master the sentinels report now. */
  masterPort(): Promise<number>;
  /** A connection to one sentinel (closed by stop()). */
  sentinel(i?: number): Redis;
  /**
   * `SENTINEL FAILOVER` on a sentinel, then waits until every sentinel reports the new master,
   * with the other replica in sync (the old master turns replica later: the sentinels demote it
   * some seconds after they switched).
   */
  failover(): Promise<{ from: number; to: number }>;
  /** Stops every process it started and removes its folder. */
  stop(): Promise<void>;
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves when `check` is truthy; rejects after `timeout` ms with what it waited for. */
async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeout = 20_000): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Sentinel set: timed out after ${timeout} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(50);
  }
}

/** A command reply as field → value (Sentinel answers flat arrays). */
function fields(reply: unknown): Record<string, string> {
  const a = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]!] = a[i + 1]!;
  return out;
}

/** Processes still running in this process's sets: killed on exit if a stop() never ran. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
});

export async function startSentinelSet(options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const name = options.name ?? 'mymaster';
  const dir = mkdtempSync(join(tmpdir(), 'millrace-sentinel-'));
  const children: ChildProcess[] = [];
  const clients: Redis[] = [];
  const conn = (port: number) => {
    const c = new Redis({ host: HOST, port, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };

  const start = (label: string, args: string[]) => {
    const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => {
      running.delete(child);
      if (code && !stopping) console.error(`Sentinel set: ${label} exited ${code}: ${stderr}`);
    });
    children.push(child);
    running.add(child);
    return child;
  };
  let stopping = false;

  const stop = async () => {
    stopping = true;
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGTERM');
      const killer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    const [masterPort, ...rest] = ports as [number, ...number[]];
    const replicaPorts = rest.slice(0, 2);
    const sentinelPorts = rest.slice(2, 5);
    const node = (port: number) => [
      '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir,
      '--dbfilename', `dump-${port}.rdb`, '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
      '--protected-mode', 'no',
    ];
    start(`master :${masterPort}`, node(masterPort));
    for (const p of replicaPorts) start(`replica :${p}`, [...node(p), '--replicaof', HOST, String(masterPort)]);
    const master = conn(masterPort);
    await until('both replicas in sync with the master', async () => {
      const info = await master.info('replication');
      return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === 2;
    });

    for (const p of sentinelPorts) {
      const conf = join(dir, `sentinel-${p}.conf`);
      writeFileSync(conf, [
        `port ${p}`, `bind ${HOST}`, `dir ${dir}`, 'protected-mode no',
        `sentinel monitor ${name} ${HOST} ${masterPort} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 3000`,
        `sentinel parallel-syncs ${name} 2`,
        '',
      ].join('\n'));
      start(`sentinel :${p}`, [conf, '--sentinel']);
    }
    const sentinels = sentinelPorts.map((port) => ({ host: HOST, port }));
    const sentinelConns = sentinelPorts.map((p) => conn(p));

    /** Every sentinel reports the same master, with both replicas up and in sync (and, if asked, its two peers). */
    const settled = async (peers: boolean, notPort?: number, replicasInSync = 2): Promise<number | false> => {
      let agreed: number | undefined;
      for (const s of sentinelConns) {
        const addr = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
        if (!addr) return false;
        const port = Number(addr[1]);
        if (port === notPort || (agreed !== undefined && port !== agreed)) return false;
        agreed = port;
        const m = fields(await s.call('SENTINEL', 'MASTER', name));
        if (m.flags !== 'master') return false;
        const replicas = ((await s.call('SENTINEL', 'REPLICAS', name)) as unknown[]).map(fields);
        const inSync = replicas.filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok' && Number(r['master-port']) === port);
        if (inSync.length < replicasInSync) return false;
        if (peers && Number(m['num-other-sentinels']) < 2) return false;
      }
      if (agreed === undefined) return false;
      // The master itself must say so too, with both replicas online.
      const c = conn(agreed);
      const info = await c.info('replication').finally(() => {
        clients.splice(clients.indexOf(c), 1);
        c.disconnect();
      });
      return /role:master/.test(info) && (info.match(/^slave\d+:.*state=online/gm) ?? []).length >= replicasInSync ? agreed : false;
    };
    await until('the sentinels reporting the master and both replicas', () => settled(options.peers ?? false));

    const currentMaster = async () => {
      const addr = (await sentinelConns[0]!.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
      return Number(addr[1]);
    };
    return {
      name,
      sentinels,
      sentinelList: sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      masterPort: currentMaster,
      sentinel: (i = 0) => sentinelConns[i]!,
      async failover() {
        const from = await currentMaster();
        await sentinelConns[0]!.call('SENTINEL', 'FAILOVER', name);
        const to = await until('a new master after SENTINEL FAILOVER', () => settled(false, from, 1), 60_000);
        return { from, to };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
