// Medians, millrace/peer ratios, and the results table (plain text for the terminal, Markdown
// for docs/PERFORMANCE.md).

import { LIBS, type LibName } from './adapters/types.js';
import type { Metric, Scenario } from './scenarios.js';

export interface RunRecord {
  metrics?: Record<string, number>;
  error?: string;
  seconds: number;
  /** Redis commands the run sent (top few by calls), from INFO commandstats. */
  commands?: Record<string, number>;
}

export interface ScenarioResult {
  scenario: Scenario;
  runs: Record<LibName, RunRecord[]>;
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function medianOf(result: ScenarioResult, lib: LibName, metric: string): number {
  return median(result.runs[lib].map((r) => r.metrics?.[metric] ?? NaN));
}

export const LIB_LABEL: Record<LibName, string> = { millrace: 'millrace', bullmq: 'BullMQ', beequeue: 'Bee-Queue' };

function fmt(value: number, m: Metric): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (m.unit === 'jobs/s' || m.unit === 'B') return Math.round(value).toLocaleString('en-US');
  if (m.unit === 'ms') return value.toFixed(2);
  return value.toFixed(1);
}

function ratio(mine: number, peer: number, m: Metric): string {
  if (!m.ratio || !Number.isFinite(mine) || !Number.isFinite(peer) || peer === 0) return '';
  return `${(mine / peer).toFixed(2)}×`;
}

/** Table rows: scenario/metric label, then per library its median and (for peers) the ratio. */
export function rows(results: ScenarioResult[], libs: LibName[]): string[][] {
  // A ratio column follows each peer when millrace ran too.
  const withRatio = (l: LibName) => l !== 'millrace' && libs.includes('millrace');
  const header = ['scenario', 'metric', ...libs.flatMap((l) => (withRatio(l) ? [LIB_LABEL[l], `mr/${LIB_LABEL[l]}`] : [LIB_LABEL[l]]))];
  const out = [header];
  for (const r of results) {
    for (const m of r.scenario.metrics) {
      const mine = medianOf(r, 'millrace', m.name);
      const cells = [r.scenario.label, `${m.label}${m.better === 'lower' ? ' (lower better)' : ''}`];
      for (const lib of libs) {
        const failed = r.runs[lib].some((x) => x.error);
        const value = medianOf(r, lib, m.name);
        cells.push(failed ? `${fmt(value, m)} (errors)` : fmt(value, m));
        if (withRatio(lib)) cells.push(ratio(mine, value, m));
      }
      out.push(cells);
    }
  }
  return out;
}

export function textTable(table: string[][]): string {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(table[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

export function markdownTable(table: string[][]): string {
  const line = (row: string[]) => `| ${row.join(' | ')} |`;
  const align = table[0]!.map((_, i) => (i < 2 ? '---' : '---:'));
  return [line(table[0]!), line(align), ...table.slice(1).map(line)].join('\n');
}

export { LIBS };
