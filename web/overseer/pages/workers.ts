// Workers: every live worker with its queues, concurrency, counters, uptime and heartbeat age.

import type { Page } from '../context.js';
import { fill, h, notice, table } from '../dom.js';
import { duration } from '../format.js';

export const workers: Page = ({ root, live, meta }) => {
  const list = h('div');
  fill(root, h('h1', null, 'Workers'), h('p', { class: 'hint' }, `A worker is marked stale when its last heartbeat is older than ${duration(meta.staleAfterMs)}; it leaves the list when its heartbeat expires.`), list);
  const draw = () => {
    const s = live.snapshot;
    if (!s) return fill(list, notice('waiting for the first snapshot…'));
    fill(
      list,
      table(
        ['host', 'pid', 'id', 'queues', 'concurrency', 'running', 'processed', 'completed', 'failed', 'retried', 'dead', 'uptime', 'heartbeat'],
        s.workers.map((w) => [
          w.hostname, w.pid, h('code', null, w.id), w.queues.join(', '), w.concurrency, w.running, w.processed, w.completed, w.failed, w.retried, w.deadLettered,
          duration(w.uptimeMs),
          h('span', { class: w.stale ? 'tag bad' : 'tag ok' }, `${duration(w.heartbeatAgeMs)} ago${w.stale ? ' (stale)' : ''}`),
        ]),
        'no live workers under this prefix',
      ),
    );
  };
  draw();
  return live.watch(draw);
};
