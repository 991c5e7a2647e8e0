// Dead letters: per queue, the list with reason and error, each entry's details, and (unless
// read-only) replay of one or the selected, delete of the selected, purge confirmed by the
// queue's name, and bulk operations: replay or delete of all or of those matching a filter
// (task, reason, text), confirmed (a delete by typing the queue's name), then followed by a
// progress bar polled once a second, with Cancel.

import { get, post, q } from '../api.js';
import type { Page, PageContext } from '../context.js';
import { fill, h, jsonBlock, link, notice, table } from '../dom.js';
import { time } from '../format.js';
import type { DeadLetterView } from '../../../src/overseer/types.js';

const PAGE = 50;
/** How often a running bulk operation is polled. */
const POLL_MS = 1000;

type Kind = 'replay' | 'delete';
interface Filter {
  task?: string;
  reason?: string;
  text?: string;
  from?: number;
  to?: number;
}
/** A bulk operation as the server reports it (src/overseer/bulk.ts). */
interface Operation {
  id: string;
  kind: Kind;
  queue: string;
  filter: Filter | 'all';
  state: 'running' | 'done' | 'cancelled' | 'failed';
  total: number;
  scanned: number;
  matched: number;
  done: number;
  startedAt: number;
  endedAt?: number;
  error?: string;
  who: string;
  cancelledBy?: string;
}

const n = (x: number) => x.toLocaleString('en-US');

function described(f: Filter | 'all'): string {
  if (f === 'all') return 'all dead letters';
  const parts: string[] = [];
  if (f.task !== undefined) parts.push(`task ${f.task}`);
  if (f.reason !== undefined) parts.push(`reason ${f.reason}`);
  if (f.text !== undefined) parts.push(`text "${f.text}"`);
  if (f.from !== undefined) parts.push(`from ${time(f.from)}`);
  if (f.to !== undefined) parts.push(`to ${time(f.to)}`);
  return `dead letters with ${parts.join(', ')}`;
}

interface DlqPage {
  entries: DeadLetterView[];
  count: number;
  next?: string;
}

/** #/dlq: the queues with their dead-letter counts. */
function queues({ root, live }: PageContext): () => void {
  const list = h('div');
  fill(root, h('h1', null, 'Dead letters'), list);
  const draw = () => {
    const s = live.snapshot;
    if (!s) return fill(list, notice('waiting for the first snapshot…'));
    fill(list, table(['queue', 'dead letters'], s.queues.map((x) => [link(x.name, 'dlq', x.name), h('span', { class: x.dlq ? 'num bad' : 'num' }, x.dlq)]), 'no queues under this prefix yet'));
  };
  draw();
  return live.watch(draw);
}

function details(e: DeadLetterView): HTMLElement {
  return h('div', { class: 'details' },
    h('p', null, `job ${e.id} · priority ${e.priority ?? '—'} · worker ${e.worker || '—'}`),
    h('h3', null, 'Arguments'), e.undecodable ? notice('the payload could not be decoded', 'error') : jsonBlock(e.args),
    h('h3', null, 'Error'), h('pre', { class: 'stack' }, e.stack || e.error || '—'));
}

export const dlq: Page = (ctx) => {
  const { root, meta, params, left } = ctx;
  const name = params[0];
  if (name === undefined) return queues(ctx);
  const message = h('div');
  const list = h('div', null, notice('loading…'));
  const pager = h('p', { class: 'pager' });
  const selected = new Set<string>();
  const actions = meta.readOnly ? null : h('p', { class: 'actions' });
  const bulk = meta.readOnly ? null : h('p', { class: 'actions', id: 'bulk-actions' });
  const confirmBox = h('p', { class: 'actions confirm', id: 'bulk-confirm', hidden: true });
  const progress = h('div', { id: 'bulk-progress' });
  fill(root, h('h1', null, 'Dead letters of ', link(h('span', { class: 'name' }, name), 'queue', name)), message, actions, bulk, confirmBox, progress, list, pager);

  let count = 0;
  let running: Operation | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const act = (what: string, path: string, body: unknown, done: (r: Record<string, unknown>) => string) =>
    post<Record<string, unknown>>(`dlq/${q(name)}/${path}`, body).then(
      (r) => { fill(message, notice(done(r), 'ok')); selected.clear(); load(undefined, []); },
      (err: Error) => fill(message, notice(`${what} failed: ${err.message}`, 'error')),
    );

  // Bulk: the filter's inputs and buttons are made once (what is typed stays over reloads).
  const input = (id: string, label: string, size = 14) => h('input', { id, placeholder: label, 'aria-label': `filter: ${label}`, size });
  const taskInput = input('bulk-task', 'task');
  const reasonInput = input('bulk-reason', 'reason');
  const textInput = input('bulk-text', 'text in arguments or error', 24);
  const filter = (): Filter => {
    const f: Filter = {};
    if (taskInput.value.trim()) f.task = taskInput.value.trim();
    if (reasonInput.value.trim()) f.reason = reasonInput.value.trim();
    if (textInput.value) f.text = textInput.value;
    return f;
  };
  const button = (id: string, text: string, onclick: () => void, danger = false) => h('button', { type: 'button', id, class: danger ? 'danger' : undefined, onclick }, text);
  const replayAll = button('replay-all', 'Replay all', () => ask('replay', 'all'));
  const deleteAll = button('delete-all', 'Delete all', () => ask('delete', 'all'), true);
  const replayMatching = button('replay-matching', 'Replay matching', () => ask('replay', filter()));
  const deleteMatching = button('delete-matching', 'Delete matching', () => ask('delete', filter()), true);
  const enable = () => {
    const busy = running?.state === 'running';
    const some = Object.keys(filter()).length > 0;
    replayAll.disabled = deleteAll.disabled = busy || count === 0;
    replayMatching.disabled = deleteMatching.disabled = busy || count === 0 || !some;
  };
  for (const el of [taskInput, reasonInput, textInput]) el.addEventListener('input', enable);
  if (bulk) fill(bulk, replayAll, deleteAll, h('span', { class: 'hint' }, ' or those matching '), taskInput, reasonInput, textInput, replayMatching, deleteMatching);

  /** Asks before a bulk operation; a delete needs the queue's name typed. */
  const ask = (kind: Kind, target: Filter | 'all') => {
    const nameInput = kind === 'delete' ? h('input', { id: 'bulk-confirm-name', placeholder: `type ${name} to confirm`, 'aria-label': 'queue name to confirm the delete' }) : null;
    const go = h('button', { type: 'button', id: 'bulk-confirm-go', class: kind === 'delete' ? 'danger' : undefined, disabled: kind === 'delete', onclick: () => {
      confirmBox.hidden = true;
      start(kind, target, nameInput?.value);
    } }, kind === 'replay' ? 'Yes, replay' : 'Yes, delete');
    nameInput?.addEventListener('input', () => { go.disabled = nameInput.value !== name; });
    const what = target === 'all' ? `all ${n(count)} dead letter(s)` : `the ${described(target)}`;
    fill(confirmBox, `${kind === 'replay' ? 'Replay' : 'Delete'} ${what} of ${name}? `, nameInput, go,
      h('button', { type: 'button', id: 'bulk-confirm-cancel', onclick: () => { confirmBox.hidden = true; } }, 'No'));
    confirmBox.hidden = false;
    (nameInput ?? go).focus();
  };

  const start = (kind: Kind, target: Filter | 'all', confirm: string | undefined) => {
    const body = { ...(target === 'all' ? { all: true } : { filter: target }), ...(kind === 'delete' ? { confirm } : {}) };
    post<{ operation: Operation }>(`dlq/${q(name)}/${kind}`, body).then(
      ({ operation }) => { fill(message); track(operation); },
      (err: Error) => {
        fill(message, notice(`${kind} failed: ${err.message}`, 'error'));
        findRunning(); // a 409: show the one that runs
      },
    );
  };

  const cancel = (op: Operation) =>
    post<{ operation: Operation }>(`operations/${q(op.id)}/cancel`).then(
      ({ operation }) => !left() && track(operation),
      (err: Error) => !left() && fill(message, notice(`cancel failed: ${err.message}`, 'error')),
    );

  const drawProgress = (op: Operation) => {
    const max = Math.max(op.total, 1);
    const bar = h('progress', { id: 'bulk-bar', max, value: op.state === 'done' ? max : Math.min(op.scanned, max), 'aria-label': 'dead letters read' });
    const verb = op.kind === 'replay' ? 'replayed' : 'deleted';
    const status = `${n(op.done)} of ${n(op.total)} ${verb} · read ${n(op.scanned)} · matched ${n(op.matched)} · ${op.state}` +
      (op.cancelledBy ? ` (cancelled by ${op.cancelledBy})` : '') + (op.error ? `: ${op.error}` : '');
    fill(progress, h('p', { class: 'actions' },
      h('strong', null, `${op.kind === 'replay' ? 'Replay' : 'Delete'} of ${described(op.filter)}`), ' ', bar, ' ',
      h('span', { id: 'bulk-status', 'data-state': op.state, class: op.state === 'failed' ? 'bad' : op.state === 'done' ? 'ok' : undefined }, status),
      op.state === 'running' && !meta.readOnly ? h('button', { type: 'button', id: 'bulk-cancel', onclick: () => cancel(op) }, 'Cancel') : null));
  };

  /** Shows an operation and, while it runs, polls it once a second; when it ends, the list is read again. */
  const track = (op: Operation) => {
    clearTimeout(timer);
    const was = running?.id === op.id ? running.state : undefined;
    running = op;
    drawProgress(op);
    enable();
    if (op.state === 'running') {
      timer = setTimeout(() => get<{ operation: Operation }>(`operations/${q(op.id)}`).then(
        ({ operation }) => !left() && track(operation),
        (err: Error) => !left() && fill(progress, notice(`lost track of the operation: ${err.message}`, 'error')),
      ), POLL_MS);
    } else if (was === 'running' || was === undefined) {
      load(undefined, []);
    }
  };

  /** The operation running on this queue (started here, in another tab, or by a script), if any. */
  const findRunning = () => get<{ operations: Operation[] }>('operations').then(({ operations }) => {
    const op = operations.find((o) => o.queue === name && o.state === 'running');
    if (op && !left() && running?.id !== op.id) track(op);
  }, () => undefined);

  const drawActions = (total: number) => {
    count = total;
    replayAll.textContent = `Replay all (${n(total)})`;
    deleteAll.textContent = `Delete all (${n(total)})`;
    enable();
    if (!actions) return;
    const confirmInput = h('input', { id: 'purge-confirm', placeholder: `type ${name} to purge`, 'aria-label': 'queue name to confirm the purge' });
    const purge = h('button', { type: 'button', class: 'danger', id: 'purge', disabled: true, onclick: () =>
      act('purge', 'purge', { confirm: confirmInput.value }, (r) => `purged ${String(r.purged)} dead letter(s)`) }, 'Purge');
    confirmInput.addEventListener('input', () => { purge.disabled = confirmInput.value !== name; });
    fill(actions,
      h('button', { type: 'button', id: 'replay-selected', onclick: () => selected.size && act('replay', 'replay', { ids: [...selected] }, (r) => `replayed ${(r.replayed as string[]).length} job(s)`) }, 'Replay selected'),
      ' ',
      h('button', { type: 'button', id: 'delete-selected', onclick: () => selected.size && act('delete', 'delete', { ids: [...selected] }, (r) => `deleted ${String(r.deleted)} dead letter(s)`) }, 'Delete selected'),
      h('span', { class: 'purge' }, ' ', confirmInput, ' ', purge),
    );
  };

  const row = (e: DeadLetterView) => {
    const open = h('button', { type: 'button', class: 'link', onclick: (ev) => {
      const tr = (ev.target as HTMLElement).closest('tr')!;
      const next = tr.nextElementSibling;
      if (next?.classList.contains('detail-row')) return next.remove();
      tr.after(h('tr', { class: 'detail-row' }, h('td', { colspan: 9 }, details(e))));
    } }, 'show');
    const box = meta.readOnly ? null : h('input', { type: 'checkbox', 'aria-label': `select ${e.dlqId}`, 'data-dlq-id': e.dlqId, onchange: (ev) => {
      if ((ev.target as HTMLInputElement).checked) selected.add(e.dlqId);
      else selected.delete(e.dlqId);
    } });
    const replay = meta.readOnly ? null : h('button', { type: 'button', class: 'replay-one', onclick: () =>
      act('replay', 'replay', { ids: [e.dlqId] }, (r) => `replayed ${(r.replayed as string[]).join(', ') || 'nothing'}`) }, 'replay');
    return [box, h('code', null, e.dlqId), link(h('code', null, e.id), 'job', name, e.id), e.task, e.reason, h('span', { class: 'error-text' }, e.error), e.attempts, time(e.failedAt), [open, ' ', replay]];
  };

  const load = (after: string | undefined, previous: (string | undefined)[]) => {
    get<DlqPage>(`dlq/${q(name)}?limit=${PAGE}${after ? `&after=${q(after)}` : ''}`).then(
      (page) => {
        if (left()) return;
        drawActions(page.count);
        fill(list, table([meta.readOnly ? '' : 'select', 'dead letter', 'job', 'task', 'reason', 'error', 'attempts', 'failed at', ''], page.entries.map(row), 'no dead letters'));
        fill(pager,
          previous.length > 0 ? h('button', { type: 'button', onclick: () => load(previous.at(-1), previous.slice(0, -1)) }, '← previous') : null,
          ` ${page.count} dead letter(s) · page ${previous.length + 1} `,
          page.next ? h('button', { type: 'button', onclick: () => load(page.next, [...previous, after]) }, 'next →') : null);
      },
      (err: Error) => !left() && fill(list, notice(err.message, 'error')),
    );
  };
  load(undefined, []);
  findRunning();
  return () => clearTimeout(timer);
};
