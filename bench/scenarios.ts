// The benchmark scenarios of issue 3, with full and --quick sizes, and the metrics each reports.

export type Kind = 'bulk' | 'single' | 'drain' | 'latency' | 'memory' | 'rss' | 'procs';

export interface Metric {
  name: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Whether a millrace/peer ratio means something (not for a growth percentage). */
  ratio: boolean;
}

export interface Scenario {
  key: string;
  kind: Kind;
  label: string;
  params: Params;
  metrics: Metric[];
}

export interface Params {
  n?: number;
  concurrency?: number;
  keep?: boolean;
  inflight?: number;
  rate?: number;
  seconds?: number;
  warmup?: number;
  /** Enqueue scenarios: jobs enqueued the same way, untimed, before the timed ones. */
  warmJobs?: number;
  mark?: number;
  procs?: number;
}

const jobsPerSec: Metric = { name: 'jobsPerSec', label: 'jobs/s', unit: 'jobs/s', better: 'higher', ratio: true };

const count = (n: number) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

/** `scale` (full mode only, e.g. 0.5) shrinks every job count, to fit a time budget; it is reported. */
export function scenarios(quick: boolean, scale = 1): Scenario[] {
  const q = <T>(full: T, small: T): T => (quick ? small : full);
  const n = (full: number, small: number) => (quick ? small : Math.max(1000, Math.round((full * scale) / 1000) * 1000));
  const out: Scenario[] = [
    // An enqueue scenario is measured in a warm process (as many jobs enqueued before, untimed:
    // every library at its steady rate; JIT compilation reaches the code of a batched call
    // later than that of a per-job call) and in a cold one (a tenth before).
    ...(quick ? [false] : [false, true]).flatMap((cold) => {
      const when = cold ? ', cold process' : '';
      const warm = (jobs: number) => (cold ? Math.round(jobs / 10) : jobs);
      const bulkN = n(50_000, 3_000);
      const singleN = n(50_000, 1_000);
      return [
        { key: `bulk${cold ? '-cold' : ''}`, kind: 'bulk' as const, label: `bulk enqueue ${count(bulkN)} (batches of 1,000${when})`, params: { n: bulkN, warmJobs: warm(bulkN) }, metrics: [jobsPerSec] },
        { key: `single${cold ? '-cold' : ''}`, kind: 'single' as const, label: `single enqueue ${count(singleN)} (50 in flight${when})`, params: { n: singleN, inflight: 50, warmJobs: warm(singleN) }, metrics: [jobsPerSec] },
      ];
    }),
  ];
  // Drain: 50,000 no-op jobs, results dropped or kept an hour; --quick keeps two of the six.
  for (const keep of [false, true]) {
    for (const concurrency of [1, 10, 100]) {
      if (quick && !((concurrency === 10 && !keep) || (concurrency === 100 && keep))) continue;
      out.push({
        key: `drain-c${concurrency}-${keep ? 'keep' : 'drop'}`,
        kind: 'drain',
        label: `drain ${count(n(50_000, 2_000))} c=${concurrency}, results ${keep ? 'kept 1h' : 'not kept'}`,
        params: { n: n(50_000, 2_000), concurrency, keep },
        metrics: [jobsPerSec],
      });
    }
  }
  const rssN = n(200_000, 4_000);
  const mark = n(50_000, 1_000);
  out.push(
    {
      key: 'latency', kind: 'latency', label: 'pickup latency at 2,000 jobs/s (c=10)',
      params: { rate: 2000, seconds: q(10, 1.5), warmup: q(1, 0.5), concurrency: 10 },
      metrics: [
        { name: 'p50', label: 'p50 ms', unit: 'ms', better: 'lower', ratio: true },
        { name: 'p99', label: 'p99 ms', unit: 'ms', better: 'lower', ratio: true },
      ],
    },
    {
      key: 'memory', kind: 'memory', label: `Redis memory per waiting job (${count(n(100_000, 3_000))}, 100 B payload)`,
      params: { n: n(100_000, 3_000) },
      metrics: [{ name: 'bytesPerJob', label: 'bytes/job', unit: 'B', better: 'lower', ratio: true }],
    },
    {
      key: 'rss', kind: 'rss', label: `worker RSS draining ${count(rssN)} jobs (c=10)`,
      params: { n: rssN, mark, concurrency: 10 },
      metrics: [
        { name: 'rssMark', label: `RSS at ${count(mark)} MB`, unit: 'MB', better: 'lower', ratio: true },
        { name: 'rssEnd', label: `RSS at ${count(rssN)} MB`, unit: 'MB', better: 'lower', ratio: true },
        { name: 'growthPct', label: 'RSS growth %', unit: '%', better: 'lower', ratio: false },
        { name: 'liveGrowthPct', label: 'RSS growth read mid-drain %', unit: '%', better: 'lower', ratio: false },
      ],
    },
  );
  for (const procs of quick ? [2] : [1, 2, 4]) {
    out.push({
      key: `procs-${procs}`, kind: 'procs', label: `drain ${count(n(50_000, 2_000))} with ${procs} worker process${procs > 1 ? 'es' : ''} (c=10 each)`,
      params: { n: n(50_000, 2_000), procs, concurrency: 10 },
      metrics: [jobsPerSec],
    });
  }
  return out;
}
