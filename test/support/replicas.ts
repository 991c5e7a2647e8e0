// A master with replicas of the tests' own (durable enqueue): redis-server processes on free
// ports in a temporary folder, no persistence, started and stopped here by their pids. The
// shared Redis is never touched. A replica can be paused (SIGSTOP) so that WAIT times out.

import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { HOST, nodeArgs, freePort, ServerGroup, until } from './processes.js';

export interface ReplicaSet {
  masterPort: number;
  /** redis://127.0.0.1:<master port> */
  url: string;
  /** A connection to the master for the test's own reads (closed by stop()). */
  master: Redis;
  /** A connection to replica i for the test's own reads (closed by stop()). */
  replica(i?: number): Redis;
  /** Stops replica i (SIGSTOP): it acknowledges nothing until resume(i). */
  pause(i?: number): void;
  /** Lets replica i go on (SIGCONT). */
  resume(i?: number): void;
  /** Calls of a command on the master so far (INFO commandstats), e.g. 'wait'. */
  calls(command: string): Promise<number>;
  /** Stops every process it started (paused ones too) and removes its folder. */
  stop(): Promise<void>;
}

export async function startReplicaSet(options: { replicas?: number; masterArgs?: string[] } = {}): Promise<ReplicaSet> {
  const count = options.replicas ?? 1;
  const group = new ServerGroup('replicas');
  const children: ChildProcess[] = [];
  const paused = new Set<number>();
  const signal = (i: number, sig: NodeJS.Signals) => {
    const pid = children[i]?.pid;
    if (!pid) throw new Error(`no replica ${i}`);
    process.kill(pid, sig);
  };
  const resume = (i = 0) => {
    if (!paused.delete(i)) return;
    signal(i, 'SIGCONT');
  };
  const stop = async () => {
    for (const i of [...paused]) resume(i);
    await group.stop();
  };
  try {
    const ports = await Promise.all(Array.from({ length: count + 1 }, () => freePort()));
    const [masterPort, ...replicaPorts] = ports as [number, ...number[]];
    group.start(`master :${masterPort}`, [...nodeArgs(masterPort, group.dir), ...(options.masterArgs ?? [])]);
    for (const p of replicaPorts) children.push(group.start(`replica :${p}`, [...nodeArgs(p, group.dir), '--replicaof', HOST, String(masterPort)]));
    const master = group.conn(masterPort);
    await until(`${count} replica(s) online`, async () => {
      const info = await master.info('replication');
      return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === count;
    });
    const replicas = replicaPorts.map((p) => group.conn(p));
    for (const r of replicas) await until(`replica :${r.options.port} linked`, async () => /master_link_status:up/.test(await r.info('replication')));
    return {
      masterPort,
      url: `redis://${HOST}:${masterPort}`,
      master,
      replica: (i = 0) => replicas[i]!,
      pause(i = 0) {
        if (paused.has(i)) return;
        signal(i, 'SIGSTOP');
        paused.add(i);
      },
      resume,
      async calls(command: string) {
        const info = await master.info('commandstats');
        const m = new RegExp(`^cmdstat_${command.toLowerCase()}:calls=(\\d+)`, 'm').exec(info);
        return m ? Number(m[1]) : 0;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
