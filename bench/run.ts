// `npm run bench [-- --quick] [--runs=N] [--scale=0.5] [--no-events] [--only=drain] [--libs=millrace,bullmq]`:
// starts a private redis-server, runs every scenario for each library in its own child process
// (flushing the server between runs), prints one table of medians with millrace/peer ratios,
// and writes bench/results/latest.json (--quick: latest-quick.json; or --out=path) plus a
// Markdown copy of the table.

import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { scenarios, type Scenario } from './scenarios.js';
import { LIBS, type LibName } from './adapters/types.js';
import { LIB_LABEL, markdownTable, rows, textTable, type RunRecord, type ScenarioResult } from './report.js';
import type { ChildArgs } from './child.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const quick = flag('quick');
// millrace writes an event stream per queue by default, as BullMQ does (which cannot turn it off);
// --no-events measures millrace without it, as Bee-Queue runs here with its events off.
const events = !flag('no-events');
const scale = quick ? 1 : Number(option('scale') ?? 1);
const runs = Number(option('runs') ?? (quick ? 1 : 3));
const only = option('only')?.split(',');
const libs = (option('libs')?.split(',') ?? LIBS) as LibName[];
// --quick writes its own file so a CI run never overwrites the full results.
const outPath = option('out') ?? join(here, 'results', quick ? 'latest-quick.json' : 'latest.json');
const childTimeoutMs = quick ? 90_000 : 600_000;

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(here, '..', 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

interface BenchRedis {
  port: number;
  url: string;
  version: string;
  /** A connection for flushing and INFO between runs. */
  admin: Redis;
  stop(): Promise<void>;
}

/** The bench's own redis-server (it may flush it between runs), never the shared one on 6379. */
async function startRedis(): Promise<BenchRedis> {
  const server = await RedisServer.start({ dirPrefix: 'millrace-bench-' });
  const admin = server.client({ retryStrategy: () => 50 });
  admin.on('error', () => {}); // reported by the runs that need the server
  const version = await server.version();
  const stop = async (): Promise<void> => {
    admin.disconnect();
    await server.stop({ graceful: true });
  };
  return { port: server.port, url: server.url, version, admin, stop };
}

/** The children see only the bench server: every Redis/millrace variable is dropped, then REDIS_URL set. */
function childEnv(redis: BenchRedis): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(MILLRACE_|REDIS_)/.test(k)) env[k] = v;
  env.REDIS_URL = redis.url;
  return env;
}

function runChild(redis: BenchRedis, scenario: Scenario, lib: LibName): Promise<{ metrics?: Record<string, number>; error?: string }> {
  const args: ChildArgs = { role: 'main', lib, kind: scenario.kind, params: scenario.params, host: '127.0.0.1', port: redis.port, events };
  // detached: the child leads a process group, so a timeout also kills the helpers it forked.
  const child = fork(join(here, 'child.ts'), [JSON.stringify(args)], {
    execArgv: ['--import', 'tsx', '--expose-gc'], env: childEnv(redis), stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.stdout!.on('data', () => {});
  return new Promise((resolve) => {
    let outcome: { metrics?: Record<string, number>; error?: string } | undefined;
    const timer = setTimeout(() => {
      outcome ??= { error: `timed out after ${childTimeoutMs / 1000} s` };
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, childTimeoutMs);
    child.on('message', (m: { type: string; metrics?: Record<string, number>; message?: string }) => {
      if (m.type === 'result') outcome ??= { metrics: m.metrics };
      if (m.type === 'error') outcome ??= { error: m.message };
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      outcome ??= { error: `exited with code ${code}` };
      if (outcome.error && stderr) outcome.error += `\n--- stderr ---\n${stderr}`;
      resolve(outcome);
    });
  });
}

/** The Redis commands a run sent, top 8 by calls (the stats are reset before each run). */
async function commandStats(redis: BenchRedis): Promise<Record<string, number>> {
  const info = await redis.admin.info('commandstats');
  const calls = [...info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)].map(([, c, n]) => [c!, Number(n)] as const);
  return Object.fromEntries(calls.sort((a, b) => b[1] - a[1]).slice(0, 8));
}

async function main(): Promise<void> {
  const started = Date.now();
  const selected = scenarios(quick, scale).filter((s) => !only || only.some((o) => s.key.startsWith(o)));
  const redis = await startRedis();
  const stop = () => void redis.stop().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`bench: redis ${redis.version} on port ${redis.port}, ${runs} run(s) each${quick ? ', --quick' : ''}${scale !== 1 ? `, job counts scaled by ${scale}` : ''}${events ? '' : ', millrace events off'}`);
  const results: ScenarioResult[] = [];
  let failures = 0;
  try {
    for (const scenario of selected) {
      const result: ScenarioResult = { scenario, runs: Object.fromEntries(libs.map((l) => [l, [] as RunRecord[]])) as ScenarioResult['runs'] };
      for (let run = 0; run < runs; run++) {
        // Rotate the order each run so that drift on the shared machine does not favour one library.
        const order = libs.map((_, i) => libs[(i + run) % libs.length]!);
        for (const lib of order) {
          await redis.admin.flushall();
          await redis.admin.config('RESETSTAT');
          const t0 = Date.now();
          const out = await runChild(redis, scenario, lib);
          const record: RunRecord = { ...out, seconds: (Date.now() - t0) / 1000, commands: await commandStats(redis) };
          result.runs[lib].push(record);
          const shown = out.metrics ? scenario.metrics.map((m) => `${m.name}=${out.metrics![m.name]?.toFixed(2)}`).join(' ') : 'ERROR';
          console.log(`  ${scenario.key} run ${run + 1} ${LIB_LABEL[lib]}: ${shown} (${record.seconds.toFixed(1)} s)`);
          if (out.error) {
            failures++;
            console.error(out.error);
          }
        }
      }
      results.push(result);
      write(results, started, redis.version); // partial results survive an interrupted run
    }
  } finally {
    await redis.stop();
  }

  const report = write(results, started, redis.version);
  console.log(`\n${textTable(report.table)}\n`);
  console.log(`bench: ${selected.length} scenarios in ${report.seconds.toFixed(0)} s; wrote ${outPath}`);
  if (failures) {
    console.error(`bench: ${failures} run(s) failed`);
    process.exitCode = 1;
  }
}

function write(results: ScenarioResult[], started: number, redisVersion: string) {
  const table = rows(results, libs);
  const machine = {
    nproc: cpus().length, cpu: cpus()[0]?.model, memGB: Math.round(totalmem() / 2 ** 30), node: process.version,
    redis: redisVersion, bullmq: version('bullmq'), beeQueue: version('bee-queue'), ioredis: version('ioredis'),
  };
  mkdirSync(dirname(outPath), { recursive: true });
  const report = {
    date: new Date(started).toISOString(), command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    quick, runs, scale, millraceEvents: events, seconds: (Date.now() - started) / 1000, machine,
    table, results: results.map((r) => ({ key: r.scenario.key, label: r.scenario.label, params: r.scenario.params, runs: r.runs })),
  };
  writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(outPath.replace(/\.json$/, '.md'), `${markdownTable(table)}\n`);
  return report;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
