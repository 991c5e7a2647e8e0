// The Overseer bench's summary: medians over the runs, the scale check (against a tenth of the
// data), the tables printed, the targets missed.

import { median } from '../report.js';
import { LIVE_S, RUNS, SAMPLES, TABS, TARGETS, round } from './config.js';
import type { Endpoint, EndpointResult } from './endpoints.js';
import type { Monitored } from './redis.js';
import type { LiveResult, SearchResult } from './streams.js';

export interface Run {
  endpoints: EndpointResult[];
  live?: LiveResult[];
  search?: SearchResult;
}

export interface EndpointSummary extends Omit<EndpointResult, 'monitor' | 'calls'> {
  pages: string[];
  calls: Record<string, number>;
  monitor: Monitored;
  /** On a tenth of the data: commands and Redis µs (median) per request. */
  small?: { commandsMean: number; redisUs: number };
  grows: string;
}

/** Medians over the runs; `grows` says what grew from the tenth of the data (if measured). */
export function summarize(runs: Run[], endpoints: Endpoint[], small: Run[] | undefined): EndpointSummary[] {
  return runs[0]!.endpoints.map((first, i) => {
    const all = runs.map((r) => r.endpoints[i]!);
    const m = (f: (e: EndpointResult) => number) => round(median(all.map(f)), 2);
    const slowestRun = all.reduce((a, b) => (b.slowestUs > a.slowestUs ? b : a));
    const s = (small ?? []).map((r) => r.endpoints.find((e) => e.name === first.name)).filter((e): e is EndpointResult => e !== undefined);
    const smallStats = s.length ? { commandsMean: round(median(s.map((e) => e.commandsMean)), 2), redisUs: round(median(s.map((e) => e.redisUs)), 0) } : undefined;
    const big = { commandsMean: m((e) => e.commandsMean), redisUs: m((e) => e.redisUs) };
    const grows: string[] = [];
    // Ten times the data: an O(N) read shows ~10x; allow noise below 3x or 200 µs.
    if (smallStats && big.commandsMean > smallStats.commandsMean + 0.5) grows.push(`commands ${smallStats.commandsMean} -> ${big.commandsMean}`);
    if (smallStats && big.redisUs > 3 * smallStats.redisUs && big.redisUs > 200) grows.push(`Redis µs ${smallStats.redisUs} -> ${big.redisUs}`);
    return {
      name: first.name, path: first.path, status: first.status, rows: first.rows, next: first.next, pages: endpoints.find((e) => e.name === first.name)?.pages ?? [],
      p50: m((e) => e.p50), p95: m((e) => e.p95), max: round(Math.max(...all.map((e) => e.max)), 2),
      commandsMean: big.commandsMean, commandsMax: Math.max(...all.map((e) => e.commandsMax)), redisUs: big.redisUs, redisUsMean: m((e) => e.redisUsMean),
      slowestUs: slowestRun.slowestUs, slowest: slowestRun.slowest, calls: first.calls, monitor: first.monitor,
      small: smallStats, grows: grows.join('; '),
    };
  });
}

export function liveSummary(runs: Run[]) {
  const liveOf = (tabs: number) => {
    const all = runs.flatMap((r) => r.live ?? []).filter((l) => l.tabs === tabs);
    return {
      tabs, commandsPerS: round(median(all.map((l) => l.commandsPerS)), 1), snapshotsPerS: round(median(all.map((l) => l.snapshotsPerS)), 2),
      commandsPerSnapshot: round(median(all.map((l) => l.commandsPerSnapshot)), 1), slowestUs: Math.max(...all.map((l) => l.slowestUs)),
      slowest: all.reduce((a, b) => (b.slowestUs > a.slowestUs ? b : a)).slowest, calls: all[0]?.calls ?? {}, startCommands: Math.round(median(all.map((l) => l.startCommands))),
    };
  };
  const live = [liveOf(0), liveOf(1), liveOf(TABS)];
  return { live, added: round(live[2]!.commandsPerS - live[0]!.commandsPerS, 1), addedOne: round(live[1]!.commandsPerS - live[0]!.commandsPerS, 1) };
}

export function searchSummary(runs: Run[]) {
  const searches = runs.map((r) => r.search).filter((s): s is SearchResult => s !== undefined);
  const worst = searches.reduce((a, b) => (b.slowestUs > a.slowestUs ? b : a));
  return {
    perS: Math.round(median(searches.map((s) => s.perS))),
    scanned: searches[0]?.scanned ?? 0,
    ended: searches.map((s) => s.ended).join(', '),
    seconds: round(median(searches.map((s) => s.ms)) / 1000, 2),
    slowestMs: round(worst.slowestUs / 1000, 2),
    slowest: worst.slowest,
    p99CommandMs: round(median(searches.map((s) => s.p99CommandUs)) / 1000, 2),
    over1ms: Math.max(...searches.map((s) => s.over1ms)),
    over5ms: Math.max(...searches.map((s) => s.over5ms)),
    over5msByRun: searches.map((s) => s.over5msBy ?? {}),
    top: worst.top ?? [],
    commandsPer1000: median(searches.map((s) => s.commandsPer1000)),
    places: searches[0]?.places.map((p, i) => ({ ...p, ms: round(median(searches.map((s) => s.places[i]?.ms ?? NaN)), 0), perS: Math.round(median(searches.map((s) => s.places[i]?.perS ?? NaN))) })) ?? [],
  };
}

export function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => String(r[c] ?? '').length)));
  const line = (r: (string | number)[]) => `| ${r.map((v, c) => String(v).padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

const cmdName = (s: string) => (s.startsWith('EVALSHA') ? s.split(' ').slice(0, 2).join(' ') : s.split(' ')[0] ?? '');

/** Prints the tables; returns the targets missed. */
export function printReport(waiting: number, dlq: number, summary: EndpointSummary[], live: ReturnType<typeof liveSummary>, search: ReturnType<typeof searchSummary>): string[] {
  console.log(`\n## Endpoints (${waiting.toLocaleString('en')} waiting, ${dlq.toLocaleString('en')} dead letters): medians of ${RUNS} run(s) of ${SAMPLES} calls; commands per request include those scripts run`);
  console.log(table([
    ['endpoint', 'rows', 'p50 ms', 'p95 ms', 'cmds/req', 'in scripts', 'Redis µs/req', 'slowest cmd µs', 'cmds at 1/10', 'Redis µs at 1/10', 'grows with data', 'whole-key reads'],
    ...summary.map((e) => [
      e.name, `${e.rows ?? '-'}${e.next ? '+' : ''}`, e.p50, e.p95, e.commandsMean, e.monitor.inScripts, e.redisUs, `${e.slowestUs} ${cmdName(e.slowest)}`,
      e.small?.commandsMean ?? '-', e.small?.redisUs ?? '-', e.grows || 'no', e.monitor.wholeReads.join(', ') || '-',
    ]),
  ]));

  const pageNames = [...new Set(summary.flatMap((e) => e.pages))];
  console.log('\n## Pages (the reads each makes on load, besides the live stream; the targets are per request)');
  console.log(table([
    ['page', 'reads', 'p95 ms (sum)', 'commands (sum)'],
    ...pageNames.map((p) => {
      const eps = summary.filter((e) => e.pages.includes(p));
      return [p, eps.map((e) => e.name).join(' + '), round(eps.reduce((a, e) => a + e.p95, 0), 1), round(eps.reduce((a, e) => a + e.commandsMean, 0), 1)];
    }),
  ]));

  console.log(`\n## Live (event streams over node:http, ${LIVE_S} s windows): medians of ${RUNS} run(s)`);
  console.log(table([
    ['tabs', 'commands/s', 'snapshots/s', 'commands per snapshot', 'slowest cmd µs', 'commands to start'],
    ...live.live.map((l) => [l.tabs, l.commandsPerS, l.snapshotsPerS, l.commandsPerSnapshot, `${l.slowestUs} ${cmdName(l.slowest)}`, l.startCommands]),
  ]));
  console.log(`${TABS} tabs add ${live.added} commands/s (target ≤ ${TARGETS.tabsAddedPerS}): ${live.added <= TARGETS.tabsAddedPerS ? 'met' : 'MISSED'}; 1 tab adds ${live.addedOne}; per second with 1 tab: ${JSON.stringify(live.live[1]!.calls)}`);

  console.log(`\n## Search (text with no match, queue main, read to its end): medians of ${RUNS} run(s)`);
  console.log(table([
    ['place', 'entries', 'seconds', 'entries/s'],
    ...search.places.map((p) => [p.place, p.scanned, round(p.ms / 1000, 2), p.perS]),
    ['all', search.scanned, search.seconds, search.perS],
  ]));
  console.log(`${search.perS.toLocaleString('en')} entries/s (target ≥ ${TARGETS.searchPerS.toLocaleString('en')}): ${search.perS >= TARGETS.searchPerS ? 'met' : 'MISSED'}; ended ${search.ended}; slowest single command ${search.slowestMs} ms (${search.slowest}), p99 ${search.p99CommandMs} ms, ${search.over1ms} over 1 ms, ${search.over5ms} over 5 ms; ${search.commandsPer1000} commands per 1,000 entries`);
  console.log(`over 5 ms by command, per run: ${JSON.stringify(search.over5msByRun)}; slowest in the worst run:\n${search.top.map((t) => `    ${t.us} µs ${t.command}`).join('\n')}`);

  console.log('\n## Commands of one call of each endpoint (MONITOR; "(script)": run by a script)');
  for (const e of summary) console.log(`${e.name}: ${e.monitor.topLevel} sent + ${e.monitor.inScripts} in scripts\n${e.monitor.commands.map(([c, n]) => `    ${n > 1 ? `${n} × ` : ''}${c}`).join('\n')}`);

  const missed = [
    ...summary.filter((e) => e.p95 > TARGETS.p95Ms).map((e) => `${e.name}: p95 ${e.p95} ms`),
    ...summary.filter((e) => e.commandsMean > TARGETS.commands).map((e) => `${e.name}: ${e.commandsMean} commands (${Object.entries(e.calls).slice(0, 3).map(([c, n]) => `${c} ${n}`).join(', ')})`),
    ...summary.filter((e) => e.grows).map((e) => `${e.name}: grows with the data (${e.grows})`),
    ...(live.added > TARGETS.tabsAddedPerS ? [`${TABS} tabs add ${live.added} commands/s`] : []),
    ...(search.perS < TARGETS.searchPerS ? [`search ${search.perS} entries/s`] : []),
    ...(search.slowestMs > TARGETS.searchMaxCommandMs ? [`search: slowest command ${search.slowestMs} ms (${search.slowest})`] : []),
  ];
  console.log(`\n## Targets: ${missed.length ? `missed:\n- ${missed.join('\n- ')}` : 'all met'}`);
  return missed;
}
