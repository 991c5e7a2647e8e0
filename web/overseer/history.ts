// The per-minute history chart (the last 24 hours, kept in Redis by the workers' heartbeats):
// GET api/history, drawn with the throughput chart, read again every minute.

import { get, q } from './api.js';
import { ThroughputChart } from './chart.js';
import { fill, h, notice } from './dom.js';

/** What GET api/history answers (src/overseer/history.ts). */
interface HistoryView {
  start: number;
  stepMs: number;
  completed: number[];
  failed: number[];
}

const REFRESH_MS = 60_000;

/** The chart block (a heading and the chart) for one queue or, without one, every queue summed; stop() ends its refresh. */
export function historyBlock(queue?: string): { el: HTMLElement; resize(): void; stop(): void } {
  const chartEl = h('div', { class: 'chart' });
  const message = h('div');
  const total = h('span', { class: 'hint' });
  const el = h('section', { class: 'history' }, h('h2', null, 'Throughput per minute, last 24 h ', total), message, chartEl);
  const chart = new ThroughputChart(chartEl, 'jobs / min', 60);
  let stopped = false;
  const load = () => {
    get<HistoryView>(`history?hours=24${queue === undefined ? '' : `&queue=${q(queue)}`}`).then(
      (v) => {
        if (stopped) return;
        fill(message);
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        total.textContent = `(${sum(v.completed)} completed, ${sum(v.failed)} failed)`;
        chart.update({ start: v.start / 1000, completed: v.completed, failed: v.failed });
      },
      (err: Error) => !stopped && fill(message, notice(`history: ${err.message}`, 'error')),
    );
  };
  load();
  const timer = setInterval(load, REFRESH_MS);
  return {
    el,
    resize: () => chart.resize(),
    stop: () => {
      stopped = true;
      clearInterval(timer);
      chart.destroy();
    },
  };
}
