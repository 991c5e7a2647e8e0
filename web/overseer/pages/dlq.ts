// Dead letters: per queue, the list with reason and error, each entry's details, and (unless
// read-only) replay of one, the selected or all, delete, and purge confirmed by the queue's name.

import { get, post, q } from '../api.js';
import type { Page, PageContext } from '../context.js';
import { fill, h, jsonBlock, link, notice, table } from '../dom.js';
import { time } from '../format.js';
import type { DeadLetterView } from '../../../src/overseer/types.js';

const PAGE = 50;

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
  fill(root, h('h1', null, 'Dead letters of ', link(h('span', { class: 'name' }, name), 'queue', name)), message, actions, list, pager);

  const act = (what: string, path: string, body: unknown, done: (r: Record<string, unknown>) => string) =>
    post<Record<string, unknown>>(`dlq/${q(name)}/${path}`, body).then(
      (r) => { fill(message, notice(done(r), 'ok')); selected.clear(); load(undefined, []); },
      (err: Error) => fill(message, notice(`${what} failed: ${err.message}`, 'error')),
    );

  const drawActions = (count: number) => {
    if (!actions) return;
    const confirmInput = h('input', { id: 'purge-confirm', placeholder: `type ${name} to purge`, 'aria-label': 'queue name to confirm the purge' });
    const purge = h('button', { type: 'button', class: 'danger', id: 'purge', disabled: true, onclick: () =>
      act('purge', 'purge', { confirm: confirmInput.value }, (r) => `purged ${String(r.purged)} dead letter(s)`) }, 'Purge');
    confirmInput.addEventListener('input', () => { purge.disabled = confirmInput.value !== name; });
    fill(actions,
      h('button', { type: 'button', id: 'replay-selected', onclick: () => selected.size && act('replay', 'replay', { ids: [...selected] }, (r) => `replayed ${(r.replayed as string[]).length} job(s)`) }, 'Replay selected'),
      ' ',
      h('button', { type: 'button', id: 'delete-selected', onclick: () => selected.size && act('delete', 'delete', { ids: [...selected] }, (r) => `deleted ${String(r.deleted)} dead letter(s)`) }, 'Delete selected'),
      ' ',
      h('button', { type: 'button', id: 'replay-all', disabled: count === 0, onclick: () => act('replay', 'replay', { all: true }, (r) => `replayed ${(r.replayed as string[]).length} job(s)`) }, `Replay all (${count})`),
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
};
