// Does a sharded queue spread its load over a Cluster's masters? On a 3-master Cluster of the
// bench's own (3 masters, 3 replicas, no persistence; the shared Redis is never touched), the
// same jobs go through one queue stored whole and through one stored as `shards` shards, each
// enqueued in bulk and drained by one worker. Per master it reads Redis' CPU (INFO
// used_cpu_sys + used_cpu_user) and commands processed before and after, and while the sharded
// queue drains, how old each shard's oldest ready job is (a starved shard's would grow).
// Medians of several runs. These machines have 2 cores: the point is the spread and the cost
// per job, not the throughput (see docs/PERFORMANCE.md#one-queue-over-many-masters).
//
//   npm run bench:shards [-- --runs 5 --jobs 20000 --shards 6 --concurrency 50]

import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { Millrace } from '../src/index.js';
import { queueKeys } from '../src/redis/keys.js';
import { slotOf } from '../src/redis/topology.js';
import { shardRefs, storageName } from '../src/shards/index.js';
import { entryTime } from '../src/envelope.js';
import { startCluster } from '../test/support/cluster.js';
import { median } from './report.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    jobs: { type: 'string', default: '20000' },
    shards: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '50' },
    stats: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const JOBS = Number(values.jobs);
const SHARDS = Number(values.shards);
const CONCURRENCY = Number(values.concurrency);

/** Commands that scripts call: their time is within the script's (EVALSHA) already. */
const INNER = new Set(['set', 'get', 'del', 'xadd', 'xack', 'xdel', 'xtrim', 'xpending', 'xreadgroup', 'xclaim', 'xrange', 'time', 'zadd', 'zrem', 'zcard', 'zrangebyscore', 'scard', 'hset', 'hget', 'hdel', 'hmget', 'exists', 'expire', 'pexpire', 'publish', 'spublish', 'incr', 'hlen', 'sadd', 'srem', 'lpush', 'ltrim']);

interface Sample {
  cpu: number;
  /** Of which in the kernel (system calls: reading and writing sockets). */
  sys: number;
  /** Seconds spent running commands (INFO commandstats usec, scripts' own commands within theirs). */
  commandTime: number;
  commands: number;
  /** Calls per command (INFO commandstats). */
  calls: Map<string, number>;
}

async function sample(node: Redis): Promise<Sample> {
  const info = await node.info('everything');
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  const calls = new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)].flatMap((m) => [[m[1]!, Number(m[2])], [`${m[1]!} usec`, Number(m[3])]] as [string, number][]));
  let usec = 0;
  for (const [cmd, n] of calls) if (cmd.endsWith(' usec') && !INNER.has(cmd.slice(0, -5))) usec += n;
  return { cpu: num('used_cpu_sys') + num('used_cpu_user'), sys: num('used_cpu_sys'), commandTime: usec / 1e6, commands: num('total_commands_processed'), calls };
}

interface RunResult {
  /** Redis CPU seconds per master, in the masters' order. */
  cpu: number[];
  sys: number[];
  commandTime: number[];
  commands: number[];
  ms: number;
  /** Largest ratio of a shard's oldest ready job age to the median shard's, over the samples. */
  ageRatio?: number;
}

const cluster = await startCluster();
try {
  const masters = await cluster.masterPorts();
  const nodes = masters.map((p) => cluster.node(p));

  /**
   * One drain of JOBS jobs. The Redis work measured is the jobs' own: the end is seen from the
   * worker's counters (no command), and only a `watch` run (not measured) samples the shards'
   * oldest ready jobs, whose reads would count.
   */
  async function measure(shards: number, run: number, watch = false): Promise<RunResult> {
    const app = new Millrace({ prefix: `bench${run}s${shards}${watch ? 'w' : ''}`, redis: { cluster: cluster.nodes }, logLevel: 'silent', events: false });
    const q = app.queue('hot', { shards, concurrency: CONCURRENCY });
    const add = q.task('add', async (_ctx, a: number, b: number) => a + b);
    await add.enqueue(0, 0); // registers the queue, connects every master
    const worker = app.worker({ handleSignals: false, blockTime: 1000 });
    const before = await Promise.all(nodes.map(sample));
    const t0 = performance.now();
    for (let i = 0; i < JOBS; i += 1000) await add.enqueueMany(Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => [i + k, 1] as [number, number]));
    await worker.start();
    let ageRatio = 0;
    while ((worker.stats().queues.hot?.completed ?? 0) < JOBS + 1) {
      if (watch && (worker.stats().queues.hot?.completed ?? 0) < (JOBS * 3) / 4) {
        // Oldest ready job per shard (ids carry their enqueue time): none far older than the median's.
        const now = Date.now();
        const ages = await Promise.all(shardRefs(q).map(async (ref) => {
          const [oldest] = await app.inspector.listJobs(ref, 'waiting', 1);
          return oldest ? now - entryTime(oldest.id) : 0;
        }));
        const mid = median(ages);
        if (mid > 0) ageRatio = Math.max(ageRatio, Math.max(...ages) / mid);
      }
      await new Promise((r) => setTimeout(r, watch ? 100 : 20));
    }
    const ms = performance.now() - t0;
    await worker.stop();
    const after = await Promise.all(nodes.map(sample));
    if (values.stats) {
      const calls = new Map<string, number>();
      after.forEach((a, i) => a.calls.forEach((n, cmd) => calls.set(cmd, (calls.get(cmd) ?? 0) + n - (before[i]!.calls.get(cmd) ?? 0))));
      console.log(`shards ${shards}: calls per 1,000 jobs`, Object.fromEntries([...calls].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([c, n]) => [c, Math.round((n * 1000) / JOBS)])));
    }
    await app.close();
    // Every master's Redis work, the whole time (idle masters too: the spread is the point).
    return {
      cpu: after.map((a, i) => a.cpu - before[i]!.cpu),
      sys: after.map((a, i) => a.sys - before[i]!.sys),
      commandTime: after.map((a, i) => a.commandTime - before[i]!.commandTime),
      commands: after.map((a, i) => a.commands - before[i]!.commands),
      ms,
      ageRatio: watch ? ageRatio : undefined,
    };
  }

  const placement = await Promise.all(shardRefs(new Millrace({ logLevel: 'silent' }).queue('hot', { shards: SHARDS })).map((ref) => cluster.ownerOf(slotOf(queueKeys('bench0', storageName(ref), []).base))));
  console.log(`cluster: masters ${masters.join(', ')}; ${SHARDS} shards on masters ${placement.join(', ')}`);
  const whole: RunResult[] = [];
  const sharded: RunResult[] = [];
  /** Per watched run: the largest ratio of a shard's oldest ready job age to the median shard's. */
  const ages: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    // Alternating, so drift on the machine touches both alike.
    whole.push(await measure(1, run));
    sharded.push(await measure(SHARDS, run));
    const w = whole.at(-1)!;
    const s = sharded.at(-1)!;
    const watched = await measure(SHARDS, run, true);
    ages.push(watched.ageRatio ?? 0);
    console.log(`run ${run + 1}: whole ${w.ms.toFixed(0)} ms, CPU ${w.cpu.map((c) => c.toFixed(2)).join('/')} s; sharded ${s.ms.toFixed(0)} ms, CPU ${s.cpu.map((c) => c.toFixed(2)).join('/')} s; oldest-ready ratio ${watched.ageRatio?.toFixed(2)}`);
  }

  const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / Math.max(...xs);
  const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  /** Medians over runs of what a run cost per job. */
  const perJob = (runs: RunResult[]) => ({
    jobsPerSecond: median(runs.map((r) => JOBS / (r.ms / 1000))),
    cpuPerJobUs: median(runs.map((r) => (total(r.cpu) / JOBS) * 1e6)),
    sysPerJobUs: median(runs.map((r) => (total(r.sys) / JOBS) * 1e6)),
    commandUsPerJob: median(runs.map((r) => (total(r.commandTime) / JOBS) * 1e6)),
    commandsPerJob: median(runs.map((r) => total(r.commands) / JOBS)),
    busiestMasterCpuShare: median(runs.map((r) => Math.max(...r.cpu) / total(r.cpu))),
  });
  const report = {
    jobs: JOBS, shards: SHARDS, concurrency: CONCURRENCY, runs: RUNS, masters: masters.length,
    whole: perJob(whole),
    sharded: {
      ...perJob(sharded),
      /** (max - min) / max over the masters, per run: within 0.15 is the target. */
      cpuSpread: median(sharded.map((r) => spread(r.cpu))),
      commandsSpread: median(sharded.map((r) => spread(r.commands))),
      oldestReadyRatio: median(ages),
    },
  };
  const cpuRatio = report.sharded.cpuPerJobUs / report.whole.cpuPerJobUs;
  const commandRatio = report.sharded.commandUsPerJob / report.whole.commandUsPerJob;
  console.log(JSON.stringify({ ...report, shardedCpuPerJobRatio: cpuRatio, shardedCommandTimePerJobRatio: commandRatio }, null, 2));
  console.log(`Redis time in commands per job, sharded / whole: ${commandRatio.toFixed(3)} (target <= 1.10); process CPU per job (used_cpu_*): ${cpuRatio.toFixed(3)}; spread over masters: CPU ${(report.sharded.cpuSpread * 100).toFixed(1)} %, commands ${(report.sharded.commandsSpread * 100).toFixed(1)} % (target <= 15 %)`);
  console.log(`busiest master's share of Redis CPU: whole ${(report.whole.busiestMasterCpuShare * 100).toFixed(0)} %, sharded ${(report.sharded.busiestMasterCpuShare * 100).toFixed(0)} %`);
} finally {
  await cluster.stop();
}
