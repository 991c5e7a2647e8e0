// The live event feed: every lifecycle event as it is written, newest first.

import type { Page } from '../context.js';
import { fill, h, link, table, type Child } from '../dom.js';
import { duration, time } from '../format.js';
import type { StoredEvent } from '../live.js';

export const EVENT_HEADERS = ['time', 'queue', 'event', 'job', 'task', 'detail'];

function detail(e: StoredEvent['event']): string {
  switch (e.type) {
    case 'job.started':
      return `attempt ${e.attempt}${e.pickupMs === undefined ? '' : `, picked up after ${duration(e.pickupMs)}`}`;
    case 'job.completed':
      return `attempt ${e.attempt}, ${duration(e.durationMs)}`;
    case 'job.failed':
      return `attempt ${e.attempt}: ${e.error}${e.willRetry ? ' (will retry)' : ''}`;
    case 'job.retried':
      return `retry in ${duration(e.delayMs)}: ${e.error}`;
    case 'job.dead':
      return `${e.reason}: ${e.error}`;
    case 'worker.started':
      return `${e.worker} on ${e.hostname} (pid ${e.pid})`;
    case 'worker.stopped':
      return `${e.worker}, ${e.handedBack} job(s) handed back`;
    default:
      return '';
  }
}

export function eventRows(events: StoredEvent[]): Child[][] {
  return events.map(({ queue: stream, event: e }) => {
    // A sharded queue's events come from its shards' streams ('hot#2/4'); the event names the queue.
    const queue = 'queue' in e && typeof e.queue === 'string' ? e.queue : stream;
    const job = 'id' in e ? link(e.id, 'job', queue, e.id) : '—';
    const kind = e.type === 'job.failed' || e.type === 'job.dead' ? 'bad' : e.type === 'job.completed' ? 'ok' : '';
    return [time(e.at), link(queue, 'queue', queue), h('span', { class: `tag ${kind}` }, e.type), job, 'task' in e ? e.task : '—', detail(e)];
  });
}

export const events: Page = ({ root, live }) => {
  const list = h('div');
  fill(root, h('h1', null, 'Live events'), h('p', { class: 'hint' }, 'The newest 200 lifecycle events of every queue, as workers write them.'), list);
  const draw = () => fill(list, table(EVENT_HEADERS, eventRows(live.events), 'no events yet'));
  draw();
  return live.watch(draw);
};
