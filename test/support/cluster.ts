// A Redis Cluster of our own for tests: three masters, each with one replica, on free ports in
// a temporary folder, no persistence, made with `redis-cli --cluster create`. Every process is
// started and stopped here by its pid; the shared Redis is never touched.

import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { HOST, nodeArgs, freePorts, REDIS_CLI, ServerGroup, sleep, until } from './processes.js';
import { makeCerts, type TestCerts } from './tls.js';

const run = promisify(execFile);

export interface TestCluster {
  /** The seed nodes (every master and replica), as the `cluster` setting takes them. */
  nodes: { host: string; port: number }[];
  /** 'host:port,host:port,...', as REDIS_CLUSTER_NODES takes it. */
  nodeList: string;
  /** The certificates, when the cluster serves TLS. */
  certs: TestCerts | undefined;
  /** A test connection to one node (closed by stop()). */
  node(port: number): Redis;
  /** Ports of the masters now, by `CLUSTER NODES` of a live node. */
  masterPorts(): Promise<number[]>;
  /** Port of the master owning a slot now. */
  ownerOf(slot: number): Promise<number>;
  /**
   * A manual failover (`CLUSTER FAILOVER` on the replica of the slot's master): the replica takes
   * over once in sync, the old master turns replica (its blocked clients are unblocked).
   */
  failover(slot: number): Promise<{ from: number; to: number }>;
  /** Kills a node at once (SIGKILL), as a crash would. */
  kill(port: number): Promise<void>;
  /** Starts a killed node again (it rejoins with its node id, as a replica once it was replaced). */
  restart(port: number): Promise<void>;
  /** Resolves when every node says `cluster_state:ok`, 3 masters own slots and every replica's link is up. */
  settled(timeout?: number): Promise<void>;
  /**
   * Moves a slot from its master to another one as `redis-cli --cluster reshard` does:
   * IMPORTING on the target, MIGRATING on the source, its keys moved by MIGRATE a few at a time
   * (with pauses, so work goes on meanwhile), then the slot assigned to the target everywhere.
   */
  migrateSlot(slot: number): Promise<{ from: number; to: number; keys: number }>;
  /** Stops every process it started and removes its folder. */
  stop(): Promise<void>;
}

/** `CLUSTER NODES` as rows: port, flags, master id (for replicas), slots. */
function parseNodes(text: string): { id: string; port: number; flags: string[]; master: string; slots: string[] }[] {
  return text.trim().split('\n').map((line) => {
    const [id, addr, flags, master, , , , , ...slots] = line.split(' ');
    return { id: id!, port: Number(addr!.split('@')[0]!.split(':')[1]), flags: flags!.split(','), master: master!, slots };
  });
}

export interface ClusterOptions {
  /**
   * TLS only, on every node and between them (`tls-cluster`, `tls-replication`), with
   * certificates made for the test (`certs`); clients need not present one.
   */
  tls?: boolean;
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const group = new ServerGroup('cluster');
  try {
    // Each node's cluster bus gets a port of its own (by default it is the node's + 10000,
    // which may be taken, or past 65535 for a high port).
    const all = await freePorts(12);
    const ports = all.slice(0, 6);
    const certs = options.tls ? makeCerts(group.dir) : undefined;
    const children = new Map<number, ChildProcess>();
    ports.forEach((port, i) => {
      const listen = certs
        ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey,
            '--tls-ca-cert-file', certs.ca, '--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-auth-clients', 'no']
        : [];
      const args = nodeArgs(port, group.dir);
      if (certs) args.splice(args.indexOf('--port'), 2);
      children.set(port, group.start(`node :${port}`, [
        ...args, ...listen, '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
        '--cluster-port', String(all[6 + i]), '--cluster-node-timeout', '2000', '--appendonly', 'no',
      ]));
    });
    const tls = certs ? { ca: readFileSync(certs.ca) } : undefined;
    const conns = new Map(ports.map((p) => [p, group.conn(p, { tls })] as const));
    await until('every cluster node answering', async () => (await Promise.all([...conns.values()].map((c) => c.ping().then(() => true, () => false)))).every(Boolean));
    // The first three become masters, the last three their replicas.
    const cliTls = certs ? ['--tls', '--cacert', certs.ca] : [];
    await run(REDIS_CLI, [...cliTls, '--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    const live = async (): Promise<Redis> => {
      for (const c of conns.values()) if (await c.ping().then(() => true, () => false)) return c;
      throw new Error('no cluster node answers');
    };
    const nodes = async () => parseNodes(String(await (await live()).call('CLUSTER', 'NODES')));
    const settled = (timeout = 60_000) => until('the cluster settled: state ok on every node, 3 masters with slots, 3 replicas in sync', async () => {
      for (const c of conns.values()) {
        if (!/cluster_state:ok/.test(String(await c.call('CLUSTER', 'INFO')))) return false;
      }
      const rows = await nodes();
      const masters = rows.filter((r) => r.flags.includes('master') && r.slots.length > 0);
      const replicas = rows.filter((r) => r.flags.includes('slave'));
      if (masters.length !== 3 || replicas.length !== 3) return false;
      for (const r of replicas) {
        const info = await conns.get(r.port)!.info('replication');
        if (!/master_link_status:up/.test(info)) return false;
      }
      return true;
    }, timeout);
    await settled();
    const ownerOf = async (slot: number) => {
      const rows = await nodes();
      const owner = rows.find((r) => r.flags.includes('master') && !r.flags.includes('fail') && r.slots.some((range) => {
        const [a, b = a] = range.split('-').map(Number) as [number, number?];
        return slot >= a && slot <= b!;
      }));
      if (!owner) throw new Error(`no master owns slot ${slot}`);
      return owner;
    };
    const seeds = ports.map((port) => ({ host: HOST, port }));
    return {
      nodes: seeds,
      nodeList: seeds.map((s) => `${s.host}:${s.port}`).join(','),
      node: (port) => conns.get(port) ?? group.conn(port, { tls }),
      certs,
      masterPorts: async () => (await nodes()).filter((r) => r.flags.includes('master') && !r.flags.includes('fail')).map((r) => r.port),
      ownerOf: async (slot) => (await ownerOf(slot)).port,
      async kill(port) {
        const child = children.get(port);
        if (!child) throw new Error(`no node of this cluster on port ${port}`);
        await group.kill(child);
        group.drop(conns.get(port)!);
        conns.delete(port);
      },
      async restart(port) {
        const child = children.get(port);
        if (!child) throw new Error(`no node of this cluster on port ${port}`);
        children.set(port, group.restart(child));
        const c = group.conn(port, { tls });
        conns.set(port, c);
        await until(`node :${port} answering again`, () => c.ping().then(() => true, () => false));
      },
      settled: async (timeout) => {
        await settled(timeout);
      },
      async failover(slot) {
        const master = await ownerOf(slot);
        const replica = (await nodes()).find((r) => r.flags.includes('slave') && r.master === master.id);
        if (!replica) throw new Error(`no replica of :${master.port}`);
        // A manual failover gives up when the master does not pause its clients in time
        // (cluster-manual-failover-timeout, 5 s): on a loaded machine it is asked again.
        const deadline = Date.now() + 90_000;
        for (;;) {
          // Asked again only while it has not taken over (a replica turned master refuses it).
          if ((await ownerOf(slot)).port !== replica.port) await conns.get(replica.port)!.call('CLUSTER', 'FAILOVER');
          try {
            await until(`:${replica.port} master of slot ${slot}`, async () => (await ownerOf(slot)).port === replica.port, 15_000);
            break;
          } catch (err) {
            if (Date.now() > deadline) throw err;
          }
        }
        return { from: master.port, to: replica.port };
      },
      async migrateSlot(slot) {
        const source = await ownerOf(slot);
        const target = (await nodes()).find((r) => r.flags.includes('master') && !r.flags.includes('fail') && r.port !== source.port && r.slots.length > 0);
        if (!target) throw new Error('no other master to migrate to');
        const [src, dst] = [conns.get(source.port)!, conns.get(target.port)!];
        await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id);
        await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
        let moved = 0;
        for (;;) {
          const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, 10)) as string[];
          if (keys.length === 0) break;
          await src.call('MIGRATE', HOST, target.port, '', 0, 5000, 'KEYS', ...keys);
          moved += keys.length;
          await sleep(30);
        }
        for (const port of [target.port, source.port, ...(await nodes()).filter((r) => r.flags.includes('master') && ![target.port, source.port].includes(r.port)).map((r) => r.port)]) {
          await conns.get(port)?.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
        }
        await until(`slot ${slot} owned by :${target.port} on every node`, async () => (await ownerOf(slot)).port === target.port);
        return { from: source.port, to: target.port, keys: moved };
      },
      stop: () => group.stop(),
    };
  } catch (err) {
    await group.stop();
    throw err;
  }
}
