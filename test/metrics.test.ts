// Prometheus metrics: the exposition parses, and its counts match the jobs run.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/index.js';
import { testApp, type TestApp } from './helpers.js';

/** Samples of a text exposition: name, labels and value of each line that is not a comment. */
function parse(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}

function value(samples: ReturnType<typeof parse>, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('prometheus metrics', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(() => t.cleanup());

  it('counts the jobs run and reports queue depths, in process and over HTTP', async () => {
    t = testApp({}, 'metrics');
    const q = t.app.queue('q', { maxTries: 2, backoff: { type: 'fixed', base: 10, jitter: false } });
    const ok = q.task('ok', async () => 1);
    const bad = q.task('bad', async () => {
      throw new Error('always');
    });
    await q.task('later', async () => 1).with({ delay: '1h' }).enqueue();
    const worker = t.app.worker({ handleSignals: false, healthFile: false, metrics: { port: 0 } });
    await worker.start();
    try {
      const jobs = await ok.enqueueMany(Array.from({ length: 5 }, () => []));
      await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })));
      await expect((await bad.enqueue()).result({ timeout: 5000 })).rejects.toThrow(/always/);

      const samples = parse(await worker.metrics());
      expect(value(samples, 'millrace_jobs_completed_total', { queue: 'q', task: 'ok' })).toBe(5);
      expect(value(samples, 'millrace_jobs_started_total', { task: 'bad' })).toBe(2);
      expect(value(samples, 'millrace_jobs_failed_total', { task: 'bad' })).toBe(2);
      expect(value(samples, 'millrace_jobs_retried_total', { task: 'bad' })).toBe(1);
      expect(value(samples, 'millrace_jobs_dead_total', { task: 'bad', reason: 'max-tries' })).toBe(1);
      expect(value(samples, 'millrace_job_duration_seconds_count', { task: 'ok', status: 'completed' })).toBe(5);
      expect(value(samples, 'millrace_job_pickup_latency_seconds_count', { task: 'ok' })).toBe(5);
      expect(value(samples, 'millrace_queue_delayed', { queue: 'q' })).toBe(1);
      expect(value(samples, 'millrace_queue_dead_letters', { queue: 'q' })).toBe(1);
      expect(value(samples, 'millrace_queue_waiting', { queue: 'q', priority: 'normal' })).toBe(0);
      expect(value(samples, 'millrace_queue_scrape_ok')).toBe(1);

      const res = await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      expect(value(parse(await res.text()), 'millrace_jobs_completed_total', { task: 'ok' })).toBe(5);
      expect((await fetch(`http://127.0.0.1:${worker.metricsPort}/other`)).status).toBe(404);
    } finally {
      await worker.stop();
    }
  });

  it('says how to turn metrics on when they are off', async () => {
    t = testApp({}, 'metrics-off');
    t.app.queue('q').task('ok', async () => 1);
    const worker = t.app.worker({ handleSignals: false });
    expect(() => worker.metrics()).toThrow(ConfigError);
  });
});
