// Overseer (the dashboard) against a big queue: what each API read the pages make costs in
// server time and in Redis commands, what open tabs cost per second, and how fast the payload
// search reads without holding Redis. On a redis-server of the bench's own (a free port, a temp
// dir, `--save '' --appendonly no`, stopped at the end; the shared Redis is never touched), one
// queue `main` gets, through the public API (bench/overseer/dataset.ts): WAITING waiting jobs
// (enqueueMany, 10,000 per call), DLQ dead letters (failing jobs with maxTries 1 run by a worker,
// which also leaves their failed results), 2,000 completed jobs with results, 1,000 delayed ones,
// 80 running ones (two worker processes of the bench that took 40 each, no prefetch, and were
// killed -9: their jobs stay pending, the workers registered), a stored cron schedule and 3
// load-test reports (runLoadTest without waiting, on a queue `lt`). The dashboard is a plain app
// on the same prefix (as `millrace dashboard` without --app: it knows the queues from Redis),
// from the TypeScript sources (the dashboard is what is measured: no stale dist/).
//
// 1. Endpoints (bench/overseer/endpoints.ts): each GET the pages make, called SAMPLES times
//    through the handler directly (`await handler(new Request(...))`, the body read), with
//    nothing else on that Redis (the workers are dead, no event stream open): server time
//    p50/p95; Redis commands per request from INFO stats total_commands_processed (read after
//    every request, the bench's own INFO and SLOWLOG taken off; commands a script runs count, as
//    Redis counts them); which commands (INFO commandstats); one more call under MONITOR for the
//    exact commands with their arguments (those run by a script shown apart); SLOWLOG at 0 µs,
//    read and reset after every request, for the Redis time per request (median) and the slowest
//    single command. The same endpoints are measured on a tenth of the data first (its own
//    redis-server): an endpoint whose commands or Redis time grow with the data is flagged.
// 2. Live (bench/overseer/streams.ts): commands/s on that Redis with no tab, 1 and TABS event
//    streams (GET /api/events over node:http) open for LIVE seconds each.
// 3. Search: GET /api/search?text=<no match>&queue=main read to its end: entries scanned per
//    second (per place), and the slowest single Redis command meanwhile (SLOWLOG at 0 µs).
//
// 4. Bulk (bench/overseer/bulk.ts), once, last: "Replay all" of every dead letter: entries/s,
//    the slowest single command, and the same again replaying nothing.
//
// Phases 1-3 run RUNS times on the same data (they only read): medians of the runs.
//
//   npm run bench:overseer                   # 1,000,000 waiting, 100,000 dead letters, 3 runs
//   npm run bench:overseer -- --quick        # 100,000 / 10,000, 1 run, 5 s live windows
//   npm run bench:overseer -- --runs 5 --samples 100 --waiting 500000 --dlq 50000 --tabs 20 --live-seconds 5 --no-scale-check
//
// Writes bench/results/overseer-<date>.json (overseer-quick-<date>.json with --quick; -2, -3...
// when the file exists), or --out <path>.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Millrace } from '../src/index.js';
import { overseer } from '../src/overseer/index.js';
import { serveHandler } from '../test/support/overseer.js';
import {
  COMPLETED, DELAYED, DLQ, LIVE_S, LOAD_TESTS, OUT, PREFIX, QUICK, RUNNING, RUNS, SAMPLES, SCALE_CHECK, TABS, TARGETS, WAITING, round, sleep,
} from './overseer/config.js';
import { buildDataSet, stopDataSet, type DataSet } from './overseer/dataset.js';
import { endpointsOf, measureEndpoint, type Endpoint } from './overseer/endpoints.js';
import { commandsProcessed } from './overseer/redis.js';
import { liveSummary, printReport, searchSummary, summarize, type Run } from './overseer/report.js';
import { measureLive, measureSearch } from './overseer/streams.js';
import { measureBulk, type BulkResult } from './overseer/bulk.js';
import { gitState } from './lib/git.js';

/** Commands/s on the bench's Redis with nothing of ours running (must be 0). */
async function idleRate(d: DataSet): Promise<number> {
  const a = await commandsProcessed(d.admin);
  await sleep(2000);
  return ((await commandsProcessed(d.admin)) - a - 1) / 2;
}

async function measureAll(d: DataSet, runs: number, samples: number, full: boolean): Promise<{ runs: Run[]; endpoints: Endpoint[] }> {
  const dash = new Millrace({ redis: d.server.url, prefix: PREFIX, logLevel: 'silent' });
  const handler = overseer(dash);
  const served = full ? await serveHandler(handler) : undefined;
  try {
    const idle = await idleRate(d);
    if (idle > 0.5) throw new Error(`something else runs commands on the bench's Redis (${idle}/s): the counts would be wrong`);
    const endpoints = await endpointsOf(handler, d);
    const out: Run[] = [];
    for (let run = 0; run < runs; run++) {
      const r: Run = { endpoints: [] };
      for (const ep of endpoints) r.endpoints.push(await measureEndpoint(handler, d.admin, ep, samples));
      if (served) {
        r.live = [];
        for (const tabs of [0, 1, TABS]) {
          r.live.push(await measureLive(handler, d.admin, served.url, tabs, LIVE_S));
          await sleep(1000);
        }
        r.search = await measureSearch(handler, d.admin);
        const s = r.search;
        console.log(`run ${run + 1}/${runs}: ${r.endpoints.length} endpoints; search ${s.scanned.toLocaleString('en')} entries in ${(s.ms / 1000).toFixed(1)} s (${s.perS.toLocaleString('en')}/s), slowest command ${(s.slowestUs / 1000).toFixed(2)} ms; live ${r.live.map((l) => `${l.tabs} tabs ${l.commandsPerS}/s`).join(', ')}`);
      } else console.log(`run ${run + 1}/${runs}: ${r.endpoints.length} endpoints measured`);
      out.push(r);
    }
    return { runs: out, endpoints };
  } finally {
    await served?.close();
    await handler.close();
    await dash.close();
  }
}


function outPath(): string {
  if (OUT) return OUT;
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  const base = `overseer-${QUICK ? 'quick-' : ''}${new Date().toISOString().slice(0, 10)}`;
  let path = join(dir, `${base}.json`);
  for (let n = 2; existsSync(path); n++) path = join(dir, `${base}-${n}.json`);
  return path;
}

const started = Date.now();
const loadStart = loadavg().map((x) => round(x, 2));
const git = gitState(['src', 'web']);
console.log(`overseer bench: ${WAITING.toLocaleString('en')} waiting, ${DLQ.toLocaleString('en')} dead letters; ${RUNS} run(s), ${SAMPLES} calls per endpoint, live ${LIVE_S} s with 0, 1 and ${TABS} tabs; commit ${git.commit}${git.dirty.length ? ` + ${git.dirty.length} changed files under src/ web/` : ''}; ${cpus().length} cores, load ${loadStart.join(' ')}`);

let small: { set: Record<string, number | string>; runs: Run[] } | undefined;
if (SCALE_CHECK) {
  const d = await buildDataSet(Math.round(WAITING / 10), Math.round(DLQ / 10), 'tenth');
  try {
    small = { set: d.setup, runs: (await measureAll(d, 1, Math.min(SAMPLES, 20), false)).runs };
  } finally {
    await stopDataSet(d);
  }
}
const d = await buildDataSet(WAITING, DLQ, 'full');
let runs: Run[];
let endpoints: Endpoint[];
let redisVersion = '';
let bulk: BulkResult | undefined;
try {
  redisVersion = await d.server.version();
  ({ runs, endpoints } = await measureAll(d, RUNS, SAMPLES, true));
  // Last: the replay changes the data set.
  const dash = new Millrace({ redis: d.server.url, prefix: PREFIX, logLevel: 'silent' });
  const handler = overseer(dash);
  try {
    bulk = await measureBulk(handler, d.admin);
  } finally {
    await handler.close();
    await dash.close();
  }
  const b = bulk;
  console.log(`\n## Bulk replay of every dead letter (DLQ page, Replay all)\n${b.done.toLocaleString('en')} of ${b.total.toLocaleString('en')} replayed (${b.state}) in ${(b.ms / 1000).toFixed(1)} s: ${b.perS.toLocaleString('en')}/s; ${b.commandsPer1000} commands per 1,000; slowest single command ${(b.slowestUs / 1000).toFixed(2)} ms (${b.slowest.slice(0, 80)}), ${b.over5ms} over 5 ms; waiting grew by ${b.waitingAdded.toLocaleString('en')}; replay all again: ${b.againDone} replayed`);
} finally {
  await stopDataSet(d);
}

const summary = summarize(runs, endpoints, small?.runs);
const live = liveSummary(runs);
const search = searchSummary(runs);
const missed = printReport(WAITING, DLQ, summary, live, search);

const path = outPath();
mkdirSync(dirname(path), { recursive: true });
writeFileSync(path, `${JSON.stringify({
  date: new Date(started).toISOString(), command: `npm run bench:overseer${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  seconds: round((Date.now() - started) / 1000, 0), git,
  machine: { nproc: cpus().length, cpu: cpus()[0]?.model, memGB: Math.round(totalmem() / 2 ** 30), node: process.version, redis: redisVersion, loadavgStart: loadStart, loadavgEnd: loadavg().map((x) => round(x, 2)) },
  params: { waiting: WAITING, dlq: DLQ, runs: RUNS, samples: SAMPLES, liveSeconds: LIVE_S, tabs: TABS, completed: COMPLETED, delayed: DELAYED, running: RUNNING, loadTests: LOAD_TESTS, scaleCheck: SCALE_CHECK },
  targets: TARGETS, setup: d.setup, smallSetup: small?.set, endpoints: summary, live: live.live, tabsAddedPerS: live.added, search, bulk, missed, runs,
}, null, 2)}\n`);
console.log(`\nresults: ${path} (${round((Date.now() - started) / 1000, 0)} s)`);
