// Overview: every queue with its counts (live), the throughput chart, workers in short, and the
// newest events.

import { ThroughputChart } from '../chart.js';
import { historyBlock } from '../history.js';
import type { Page } from '../context.js';
import { fill, h, link, notice, table } from '../dom.js';
import { duration } from '../format.js';
import type { Snapshot } from '../live.js';
import { PauseButtons, pausedBadge } from '../pause.js';
import { eventRows, EVENT_HEADERS } from './events.js';

const HEADERS = ['queue', 'ready', 'by priority', 'delayed', 'running', 'dead letters', 'done/1m', 'failed/1m', 'pickup p50', 'workers'];

function queueRows(s: Snapshot, buttons: PauseButtons | undefined) {
  return s.queues.map((q) => [
    [link(q.name, 'queue', q.name), q.paused ? [' ', pausedBadge(q.name)] : null],
    h('span', { class: 'num', 'data-q': q.name, 'data-field': 'ready' }, q.readyTotal),
    [...q.levels.filter((l) => (q.ready[l] ?? 0) > 0).map((l) => `${l}=${q.ready[l]}`), ...(q.grouped > 0 ? [`groups=${q.grouped}`] : [])].join(' ') || '—',
    h('span', { class: 'num', 'data-q': q.name, 'data-field': 'delayed' }, q.delayed),
    h('span', { class: 'num', 'data-q': q.name, 'data-field': 'running' }, q.running),
    q.dlq > 0 ? link(h('span', { class: 'num bad', 'data-q': q.name, 'data-field': 'dlq' }, q.dlq), 'dlq', q.name) : h('span', { class: 'num', 'data-q': q.name, 'data-field': 'dlq' }, 0),
    h('span', { class: 'num', 'data-q': q.name, 'data-field': 'completed' }, q.completedPerMin),
    h('span', { class: q.failedPerMin > 0 ? 'num bad' : 'num' }, q.failedPerMin),
    q.pickupP50Ms === undefined ? '—' : duration(q.pickupP50Ms),
    h('span', { class: 'num' }, q.workers),
    ...(buttons ? [buttons.button(q.name, q.paused)] : []),
  ]);
}

export const overview: Page = ({ root, live, meta }) => {
  const message = h('div');
  const buttons = meta.readOnly ? undefined : new PauseButtons(message);
  const queues = h('div', { id: 'queues' });
  const chartEl = h('div', { class: 'chart' });
  const workers = h('p', { class: 'summary' });
  const feed = h('div');
  const history = historyBlock();
  fill(
    root,
    h('h1', null, 'Queues'),
    message,
    queues,
    h('h2', null, 'Throughput (last 5 minutes)'),
    chartEl,
    history.el,
    workers,
    h('h2', null, 'Latest events'),
    feed,
  );
  const chart = new ThroughputChart(chartEl);
  const draw = () => {
    const s = live.snapshot;
    if (!s) {
      fill(queues, live.problem ? notice(live.problem, 'error') : notice('waiting for the first snapshot…'));
      return;
    }
    fill(
      queues,
      live.problem ? notice(live.problem, 'error') : null,
      table(buttons ? [...HEADERS, ''] : HEADERS, queueRows(s, buttons), 'no queues under this prefix yet'),
    );
    chart.update(s.throughput);
    const stale = s.workers.filter((w) => w.stale).length;
    fill(workers, link(`${s.workers.length} live worker(s)`, 'workers'), stale ? h('span', { class: 'bad' }, ` (${stale} stale)`) : null);
    fill(feed, table(EVENT_HEADERS, eventRows(live.events.slice(0, 15)), 'no events yet'));
  };
  draw();
  const unwatch = live.watch(draw);
  const onResize = () => {
    chart.resize();
    history.resize();
  };
  window.addEventListener('resize', onResize);
  return () => {
    unwatch();
    window.removeEventListener('resize', onResize);
    chart.destroy();
    history.stop();
  };
};
