// A Redis Sentinel set of our own for tests: one master, two replicas and three sentinels
// (quorum 2) on free ports in a temporary folder, no persistence; optionally TLS only (to the
// data nodes, the sentinels or both, certificates of test/support/tls.ts) and sentinels that
// require a password and ACL users. Every process is started here and stopped here by its pid;
// the shared Redis is never touched.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Redis, RedisOptions } from 'ioredis';
import { HOST, nodeArgs, freePort, ServerGroup, until } from './processes.js';
import { adminTls, makeCerts, tlsNodeArgs, type TestCerts } from './tls.js';

export interface SentinelSetOptions {
  /** Master name the sentinels monitor (default 'mymaster'). */
  name?: string;
  /** Also wait until every sentinel knows the others (needed for a failover they agree on). */
  peers?: boolean;
  /** Replicas of the master (default 2). */
  replicas?: number;
  /** Sentinels (default 3); the quorum is a majority of them. */
  sentinels?: number;
  /**
   * TLS only (no plain port), with certificates made in the set's folder: on the data nodes and
   * the sentinels ('all'), on the data nodes only, the sentinels listening in plain TCP and
   * talking TLS to them ('data'), or on the sentinels only ('sentinels').
   */
  tls?: 'all' | 'data' | 'sentinels';
  /**
   * The sentinels require the `default` user's `password` (`requirepass`; the sentinels and the
   * tests' connections use it) and know these other users (`user` lines of sentinel.conf, like
   * 'mr on >pw -@all +sentinel|get-master-addr-by-name').
   */
  sentinelAuth?: { password: string; users?: string[] };
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
  /** A connection to a data node, over TLS when the data nodes speak it (closed by stop()). */
  node(port: number): Redis;
  /** The certificates, when the set speaks TLS. */
  certs?: TestCerts;
  /**
   * `SENTINEL FAILOVER` on a sentinel, then waits until every sentinel reports the new master,
   * with the other replicas in sync (the old master turns replica later: the sentinels demote it
   * some seconds after they switched).
   */
  failover(): Promise<{ from: number; to: number }>;
  /**
   * kill -9 of the master now; resolves when every sentinel reports a replica promoted in its
   * place (with the other replicas following it). `restart()` starts the killed node again: the
   * sentinels turn it into a replica of the new master.
   */
  killMaster(timeout?: number): Promise<{ from: number; to: number; promotedAt: number; restart(): Promise<void> }>;
  /** Stops every process it started and removes its folder. */
  stop(): Promise<void>;
}

/** A command reply as field → value (Sentinel answers flat arrays). */
function fields(reply: unknown): Record<string, string> {
  const a = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]!] = a[i + 1]!;
  return out;
}

export async function startSentinelSet(options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const name = options.name ?? 'mymaster';
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const group = new ServerGroup('sentinel');
  const { dir } = group;
  const stop = () => group.stop();

  try {
    const certs = options.tls ? makeCerts(dir) : undefined;
    const dataTls = options.tls === 'all' || options.tls === 'data' ? adminTls(certs!) : undefined;
    const sentinelTls = options.tls === 'all' || options.tls === 'sentinels' ? adminTls(certs!) : undefined;
    const conn = (port: number, extra: RedisOptions = {}) => group.conn(port, extra);
    const dataConn = (port: number) => conn(port, { tls: dataTls });
    const start = (label: string, args: string[]) => group.start(label, args);
    const ports = await Promise.all(Array.from({ length: 1 + replicaCount + sentinelCount }, () => freePort()));
    const [masterPort, ...rest] = ports as [number, ...number[]];
    const replicaPorts = rest.slice(0, replicaCount);
    const sentinelPorts = rest.slice(replicaCount);
    const node = (port: number) => (dataTls ? tlsNodeArgs(port, certs!, dir) : nodeArgs(port, dir));
    const children = new Map<number, ChildProcess>();
    children.set(masterPort, start(`master :${masterPort}`, node(masterPort)));
    for (const p of replicaPorts) children.set(p, start(`replica :${p}`, [...node(p), '--replicaof', HOST, String(masterPort)]));
    const master = dataConn(masterPort);
    await until(`the ${replicaCount} replica(s) in sync with the master`, async () => {
      const info = await master.info('replication');
      return /role:master/.test(info) && (info.match(/^slave\d+:.*state=online/gm) ?? []).length === replicaCount;
    });

    const tlsFiles = certs ? [`tls-cert-file ${certs.serverCert}`, `tls-key-file ${certs.serverKey}`, `tls-ca-cert-file ${certs.ca}`, 'tls-auth-clients no'] : [];
    const auth = options.sentinelAuth;
    for (const p of sentinelPorts) {
      const conf = join(dir, `sentinel-${p}.conf`);
      writeFileSync(conf, [
        sentinelTls ? `port 0\ntls-port ${p}` : `port ${p}`, `bind ${HOST}`, `dir ${dir}`, 'protected-mode no', ...tlsFiles,
        // The sentinels reach the data nodes and each other over TLS when the data nodes speak it.
        ...(dataTls ? ['tls-replication yes'] : []),
        ...(auth ? [`requirepass ${auth.password}`, `sentinel sentinel-pass ${auth.password}`, ...(auth.users ?? []).map((u) => `user ${u}`)] : []),
        `sentinel monitor ${name} ${HOST} ${masterPort} ${Math.floor(sentinelCount / 2) + 1}`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 3000`,
        `sentinel parallel-syncs ${name} 2`,
        '',
      ].join('\n'));
      start(`sentinel :${p}`, [conf, '--sentinel']);
    }
    const sentinels = sentinelPorts.map((port) => ({ host: HOST, port }));
    const sentinelConns = sentinelPorts.map((p) => conn(p, { tls: sentinelTls, password: auth?.password }));

    /** Every sentinel reports the same master, with its replicas up and in sync (and, if asked, its peers). */
    const settled = async (peers: boolean, notPort?: number, replicasInSync = replicaCount): Promise<number | false> => {
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
        if (peers && Number(m['num-other-sentinels']) < sentinelCount - 1) return false;
      }
      if (agreed === undefined) return false;
      // The master itself must say so too, with its replicas online.
      const c = dataConn(agreed);
      const info = await c.info('replication').finally(() => group.drop(c));
      return /role:master/.test(info) && (info.match(/^slave\d+:.*state=online/gm) ?? []).length >= replicasInSync ? agreed : false;
    };
    await until('the sentinels reporting the master and its replicas', () => settled(options.peers ?? false));

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
      node: dataConn,
      certs,
      async failover() {
        const from = await currentMaster();
        await sentinelConns[0]!.call('SENTINEL', 'FAILOVER', name);
        const to = await until('a new master after SENTINEL FAILOVER', () => settled(false, from, Math.min(1, replicaCount - 1)), 60_000);
        return { from, to };
      },
      async killMaster(timeout = 60_000) {
        const from = await currentMaster();
        await group.kill(children.get(from)!);
        const to = await until('a replica promoted in place of the killed master', () => settled(false, from, Math.min(1, replicaCount - 1)), timeout);
        const promotedAt = Date.now();
        return {
          from, to, promotedAt,
          async restart() {
            children.set(from, group.restart(children.get(from)!));
            await until('the restarted node back as a replica, the replicas in sync', () => settled(false, from, replicaCount), timeout);
          },
        };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
