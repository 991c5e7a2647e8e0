// `millrace health status` (a report from the worker registry, the queues and Redis) and
// `millrace health probe` (exit 0 when healthy, 1 otherwise: for scripts and orchestrators).

import { Command } from 'commander';
import { knownQueues, redisFailure, withTimeout, type Opened, type OpsApp } from '../app.js';
import { duration, json } from '../output.js';
import { queueReports, queuesTable, type QueueReport } from './queues.js';
import { workerReports, workersTable, type WorkerReport } from './workers.js';
import { secondsOption, withCommon, type GlobalFlags, type Kit } from './common.js';

interface RedisHealth {
  ok: boolean;
  pingMs?: number;
  /** 'unknown' when the server does not tell (CONFIG refused, as on some managed Redis). */
  maxmemoryPolicy?: string;
  error?: string;
}

export interface HealthStatus {
  status: 'healthy' | 'degraded' | 'unhealthy';
  /** What makes it unhealthy. */
  problems: string[];
  /** What makes it degraded. */
  warnings: string[];
  prefix: string;
  redis: RedisHealth;
  workers: { alive: number; newestHeartbeatAgeMs?: number; oldestHeartbeatAgeMs?: number; list?: WorkerReport[] };
  queues: { count: number; ready: number; delayed: number; inFlight: number; dlq: number; list?: QueueReport[] };
}

async function pingRedis(o: Opened, timeoutMs: number): Promise<RedisHealth> {
  const app = o.app;
  try {
    // The first PING also waits for the connection; the second is the round trip.
    await withTimeout(app.broker.ping(), timeoutMs, `no answer within ${timeoutMs} ms`);
    const pingMs = await withTimeout(app.broker.ping(), timeoutMs, `no answer within ${timeoutMs} ms`);
    return { ok: true, pingMs: Math.round(pingMs * 100) / 100, maxmemoryPolicy: await maxmemoryPolicy(app) };
  } catch (err) {
    return { ok: false, error: redisFailure(o, err) };
  }
}

/** Redis's maxmemory-policy, through the broker (CONFIG GET; 'unknown' when refused). */
async function maxmemoryPolicy(app: OpsApp): Promise<string> {
  return (await app.broker.evictionPolicy?.().catch(() => undefined)) ?? 'unknown';
}

export async function healthStatus(o: Opened, detailed: boolean, timeoutMs: number): Promise<HealthStatus> {
  const app = o.app;
  const report: HealthStatus = {
    status: 'healthy', problems: [], warnings: [], prefix: app.prefix,
    redis: await pingRedis(o, timeoutMs),
    workers: { alive: 0 },
    queues: { count: 0, ready: 0, delayed: 0, inFlight: 0, dlq: 0 },
  };
  if (!report.redis.ok) {
    report.problems.push(`Redis does not answer: ${report.redis.error}`);
    report.status = 'unhealthy';
    return report;
  }
  const policy = report.redis.maxmemoryPolicy;
  if (policy !== undefined && policy !== 'unknown' && policy !== 'noeviction') {
    report.warnings.push(`Redis maxmemory-policy is '${policy}': under memory pressure it may evict queue keys and lose jobs; use 'noeviction'`);
  }
  const workers = workerReports(await app.workers());
  const queues = await queueReports(app, await knownQueues(app), workers);
  const ages = workers.map((w) => w.heartbeatAgeMs);
  report.workers = { alive: workers.length };
  if (ages.length) Object.assign(report.workers, { newestHeartbeatAgeMs: Math.min(...ages), oldestHeartbeatAgeMs: Math.max(...ages) });
  const sum = (f: (q: QueueReport) => number) => queues.reduce((a, q) => a + f(q), 0);
  report.queues = { count: queues.length, ready: sum((q) => q.readyTotal), delayed: sum((q) => q.delayed), inFlight: sum((q) => q.inFlight), dlq: sum((q) => q.dlq) };
  if (detailed) {
    report.workers.list = workers;
    report.queues.list = queues;
  }
  if (workers.length === 0) report.problems.push(`no live worker under prefix '${app.prefix}'`);
  for (const q of queues) {
    if (q.workers === 0 && q.readyTotal + q.delayed > 0 && workers.length > 0) {
      report.warnings.push(`queue '${q.name}' has ${q.readyTotal + q.delayed} job(s) waiting and no live worker serving it`);
    }
  }
  report.status = report.problems.length ? 'unhealthy' : report.warnings.length ? 'degraded' : 'healthy';
  return report;
}

function healthText(h: HealthStatus): string {
  const lines = [`status:  ${h.status}`];
  lines.push(
    h.redis.ok
      ? `redis:   ok, ping ${h.redis.pingMs} ms, maxmemory-policy ${h.redis.maxmemoryPolicy}`
      : `redis:   not answering (${h.redis.error})`,
  );
  if (h.redis.ok) {
    const w = h.workers;
    lines.push(
      `workers: ${w.alive} alive` +
        (w.alive ? ` (last heartbeats ${duration(w.newestHeartbeatAgeMs)} to ${duration(w.oldestHeartbeatAgeMs)} ago)` : ''),
    );
    const q = h.queues;
    lines.push(`queues:  ${q.count} (ready ${q.ready}, delayed ${q.delayed}, in flight ${q.inFlight}, dead letters ${q.dlq})`);
  }
  for (const p of h.problems) lines.push(`problem: ${p}`);
  for (const w of h.warnings) lines.push(`warning: ${w}`);
  if (h.workers.list) lines.push('', 'Workers', workersTable(h.workers.list));
  if (h.queues.list) lines.push('', 'Queues', queuesTable(h.queues.list));
  return lines.join('\n');
}

export function registerHealthCommands(program: Command, kit: Kit): void {
  const health = program
    .command('health')
    .summary('health report (status) or exit code (probe)')
    .description('health of the workers, the queues and Redis: a report (status) or an exit code (probe)')
    .addHelpText('after', `
Examples:
  $ millrace health status
  $ millrace health status --detailed --json
  $ millrace health probe --queue emails`);

  withCommon(
    health
      .command('status')
      .description('report: Redis ping and maxmemory-policy, live workers and their heartbeat ages, queue depths and dead letters')
      .option('--detailed', 'add a table of the workers and one of the queues (in JSON: their lists)')
      .addOption(secondsOption('-t, --timeout <seconds>', 'how long to wait for Redis to answer', 5000)),
  )
    .addHelpText('after', `
The status is unhealthy when Redis does not answer or no worker is alive; degraded when Redis
may evict keys (maxmemory-policy other than noeviction) or a queue has jobs waiting and no live
worker serving it; healthy otherwise. The command exits 0 whenever it could write the report:
use 'millrace health probe' for an exit code.

Examples:
  $ millrace health status
  $ millrace health status --detailed
  $ millrace health status --json | jq .status`)
    .action((flags: GlobalFlags & { detailed?: boolean; timeout: number }) =>
      kit.run(
        flags,
        async (s) => {
          const h = await healthStatus(s.opened, flags.detailed === true, flags.timeout);
          s.print(h, () => healthText(h));
        },
        { redis: 'optional' },
      ),
    );

  withCommon(
    health
      .command('probe')
      .description('exit 0 when Redis answers and a worker is alive (serving --queue, if given); else print why and exit 1')
      .option('-q, --queue <name>', 'also require a live worker serving this queue')
      .addOption(secondsOption('-t, --timeout <seconds>', 'how long to wait for Redis to answer', 5000)),
  )
    .addHelpText('after', `
For liveness checks of a whole deployment (a single worker container can test its health file
instead, /tmp/millrace_worker_healthy by default).

Examples:
  $ millrace health probe
  $ millrace health probe --queue emails --timeout 2 || alert "emails has no worker"`)
    .action((flags: GlobalFlags & { queue?: string; timeout: number }) =>
      kit.run(
        flags,
        async (s) => {
          const redis = await pingRedis(s.opened, flags.timeout);
          let reason: string;
          let workers: WorkerReport[] = [];
          if (!redis.ok) {
            reason = `Redis does not answer: ${redis.error}`;
          } else {
            workers = workerReports(await s.app.workers());
            const serving = flags.queue === undefined ? workers : workers.filter((w) => w.queues.includes(flags.queue!));
            if (serving.length > 0) {
              const msg = `healthy: ${serving.length} live worker(s)${flags.queue === undefined ? '' : ` serving queue '${flags.queue}'`}, Redis ping ${redis.pingMs} ms`;
              s.print({ healthy: true, reason: msg, pingMs: redis.pingMs, workers: serving.length }, () => msg);
              return 0;
            }
            const elsewhere = [...new Set(workers.flatMap((w) => w.queues))].sort();
            reason =
              workers.length === 0
                ? `no live worker under prefix '${s.app.prefix}'`
                : `no live worker serves queue '${flags.queue}' (live workers serve: ${elsewhere.join(', ')})`;
          }
          const msg = `unhealthy: ${reason}`;
          if (s.json) s.out.out(json({ healthy: false, reason: msg, pingMs: redis.pingMs, workers: workers.length }));
          else s.out.out(msg);
          return 1;
        },
        { redis: 'optional' },
      ),
    );
}
