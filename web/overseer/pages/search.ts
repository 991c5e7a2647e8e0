// Search: every queue's waiting, running, delayed, dead-lettered and ended jobs by a substring
// of their arguments (or id, or error), task, status and time window. GET /api/search streams
// its answer as NDJSON: each match is drawn as it arrives, with how much has been read; Cancel
// (or leaving the page) aborts the request and the server stops reading. The form's values are
// kept in the route (#/search?text=...), so a search can be linked; such a link runs it.

import { getLines, get } from '../api.js';
import type { Page } from '../context.js';
import { fill, h, link, notice, route, type Child } from '../dom.js';
import { time } from '../format.js';
import type { SearchHit, SearchMessage, SearchStatus } from '../../../src/overseer/types.js';

const STATUSES: readonly SearchStatus[] = ['waiting', 'active', 'delayed', 'dead', 'completed', 'failed', 'aborted', 'expired'];
/** The route's parameters, as the API takes them. */
const FIELDS = ['text', 'queue', 'status', 'task', 'from', 'to', 'reason', 'limit'] as const;
type Field = (typeof FIELDS)[number];
const DEFAULT_LIMIT = '100';

/** What a hit's time is, by its state. */
function timeKind(state: SearchStatus): string {
  if (state === 'waiting' || state === 'active') return 'enqueued';
  if (state === 'delayed') return 'due';
  if (state === 'dead') return 'failed';
  return 'finished';
}

const pad = (n: number) => String(n).padStart(2, '0');

/** An ISO date or epoch ms as a datetime-local value (local time), '' when unreadable. */
function toLocal(raw: string): string {
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const s = d.getSeconds();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}${s ? `:${pad(s)}` : ''}`;
}

/** A datetime-local value (local time) as ISO, '' when empty or unreadable. */
function toIso(local: string): string {
  if (!local) return '';
  const d = new Date(local);
  return Number.isFinite(d.getTime()) ? d.toISOString() : '';
}

/** The snippet with each occurrence of the text marked (as text nodes). */
function marked(snippet: string, text: string): Child[] {
  if (!text) return [snippet];
  const parts = snippet.split(text);
  return parts.flatMap((p, i) => (i === 0 ? [p] : [h('mark', null, text), p]));
}

function row(hit: SearchHit, text: string): HTMLTableRowElement {
  const id = hit.state === 'dead'
    ? h('a', { href: route('dlq', hit.queue), title: `dead letter ${hit.dlqId ?? ''}` }, h('code', null, hit.id))
    : link(h('code', null, hit.id), 'job', hit.queue, hit.id);
  const state = h('span', { class: `tag ${hit.state === 'completed' ? 'ok' : ['dead', 'failed', 'aborted', 'expired'].includes(hit.state) ? 'bad' : ''}` },
    hit.state, hit.reason ? ` (${hit.reason})` : '');
  const cells: Child[] = [
    link(hit.queue, 'queue', hit.queue), state, hit.task ?? '—', id,
    hit.at === undefined ? '—' : [h('span', { class: 'hint' }, timeKind(hit.state)), ' ', time(hit.at)],
    hit.snippet === undefined ? '—' : h('code', { class: 'snippet' }, marked(hit.snippet, text)),
  ];
  return h('tr', { 'data-state': hit.state }, cells.map((c) => h('td', null, c)));
}

export const search: Page = ({ root, query }) => {
  const values = (name: Field) => query.get(name) ?? '';
  const input = (name: Field, attrs: Record<string, string>) => h('input', { id: `search-${name}`, name, autocomplete: 'off', ...attrs });
  const text = input('text', { type: 'search', placeholder: 'text in the arguments, id or error', 'aria-label': 'text', maxlength: '200', size: '34' });
  const queueSelect = h('select', { id: 'search-queue', name: 'queue', 'aria-label': 'queue' }, h('option', { value: '' }, 'every queue'));
  const status = h('select', { id: 'search-status', name: 'status', 'aria-label': 'status' }, h('option', { value: '' }, 'any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const task = input('task', { placeholder: 'task (exact)', 'aria-label': 'task', size: '14' });
  const from = input('from', { type: 'datetime-local', 'aria-label': 'from', title: 'from (enqueued, due, failed or finished)' });
  const to = input('to', { type: 'datetime-local', 'aria-label': 'to', title: 'to (enqueued, due, failed or finished)' });
  const reason = input('reason', { placeholder: 'dead: reason', 'aria-label': 'dead-letter reason', size: '12' });
  const limit = input('limit', { type: 'number', min: '1', max: '1000', 'aria-label': 'at most this many matches', title: 'at most this many matches' });
  const runButton = h('button', { type: 'submit', id: 'search-run' }, 'Search');
  const cancelButton = h('button', { type: 'button', id: 'search-cancel', disabled: true }, 'Cancel');
  const form = h('form', { id: 'search-form', class: 'search-form' },
    text, ' ', queueSelect, ' ', status, ' ', task, ' ', h('label', null, 'from ', from), ' ', h('label', null, 'to ', to), ' ', reason, ' ',
    h('label', null, 'limit ', limit), ' ', runButton, ' ', cancelButton);
  const ended = h('span', { class: 'tag', id: 'search-ended', hidden: true });
  const progress = h('span', { id: 'search-progress' });
  const statusLine = h('p', { class: 'summary', id: 'search-status-line', role: 'status' }, ended, ' ', progress);
  const message = h('div');
  const body = h('tbody');
  const results = h('table', { id: 'search-results', hidden: true },
    h('thead', null, h('tr', null, ['queue', 'state', 'task', 'id', 'time', 'snippet'].map((t) => h('th', null, t)))), body);
  fill(root, h('h1', null, 'Search'), form,
    h('p', { class: 'hint' }, 'Reads waiting, running, delayed and dead-lettered jobs and the kept results of ended ones, a chunk at a time; matches show as they are found.'),
    message, statusLine, results);

  // The form from the route.
  text.value = values('text');
  const routeQueue = values('queue');
  if (routeQueue) queueSelect.append(h('option', { value: routeQueue }, routeQueue));
  queueSelect.value = routeQueue;
  status.value = STATUSES.includes(values('status') as SearchStatus) ? values('status') : '';
  task.value = values('task');
  from.value = toLocal(values('from'));
  to.value = toLocal(values('to'));
  reason.value = values('reason');
  limit.value = values('limit') || DEFAULT_LIMIT;

  let stopped = false;
  get<{ queues: string[] }>('queues').then(
    (o) => {
      if (stopped) return;
      const chosen = queueSelect.value;
      for (const name of o.queues) {
        if (![...queueSelect.options].some((opt) => opt.value === name)) queueSelect.append(h('option', { value: name }, name));
      }
      queueSelect.value = chosen;
    },
    (err: Error) => !stopped && fill(message, notice(`cannot list the queues: ${err.message}`, 'error')),
  );

  /** The form as the API's (and the route's) parameters. */
  const params = () => {
    const p = new URLSearchParams();
    const put = (name: Field, value: string) => value.trim() && p.set(name, value.trim());
    put('text', text.value);
    put('queue', queueSelect.value);
    put('status', status.value);
    put('task', task.value);
    put('from', toIso(from.value));
    put('to', toIso(to.value));
    put('reason', reason.value);
    if (limit.value && limit.value !== DEFAULT_LIMIT) put('limit', limit.value);
    return p;
  };

  // One search at a time: the one running, what it has read, and how it ended.
  interface Run {
    stop: AbortController;
    started: number;
    total?: number;
    /** Whether it reads ended jobs' kept results too (not in `total`). */
    results: boolean;
    scanned: number;
    matched: number;
    ms?: number;
    place?: string;
    ended?: string;
  }
  let current: Run | undefined;

  const draw = (r: Run) => {
    const ms = r.ms ?? Math.round(performance.now() - r.started);
    // The total counts the streams and sets; kept results are counted only as they are read.
    const total = r.total === undefined ? '' : ` of ~${r.total}${r.results ? ' + kept results' : ''}`;
    fill(progress, `scanned ${r.scanned}${total} · matched ${r.matched} · ${ms} ms`, r.ended === undefined && r.place ? ` · reading ${r.place}` : '');
    ended.hidden = false;
    ended.textContent = r.ended ?? 'searching…';
    ended.className = `tag ${r.ended === undefined ? '' : r.ended === 'complete' ? 'ok' : r.ended === 'error' ? 'bad' : ''}`;
  };

  /** Ends a run: 'complete', 'cancelled', 'limit reached' or 'error' (with `problem`). */
  const finish = (r: Run, how: string, ms?: number, problem?: string) => {
    if (r.ended !== undefined) return;
    r.ended = how;
    if (ms !== undefined) r.ms = ms;
    else if (r.ms === undefined || how === 'cancelled') r.ms = Math.round(performance.now() - r.started);
    if (r !== current) return;
    cancelButton.disabled = true;
    if (problem) fill(message, notice(problem, 'error'));
    if (how === 'error' && r.matched === 0) results.hidden = true;
    if (how === 'limit reached') fill(message, notice(`stopped at ${r.matched} matches: narrow the search or raise the limit`));
    if (r.matched === 0 && how !== 'error') body.append(h('tr', null, h('td', { colspan: 6, class: 'empty' }, how === 'complete' ? 'no match' : 'no match so far')));
    draw(r);
  };

  const run = async (p: URLSearchParams) => {
    current?.stop.abort();
    const st = p.get('status');
    const readsResults = st === null || !['waiting', 'active', 'delayed', 'dead'].includes(st);
    const r: Run = { stop: new AbortController(), started: performance.now(), results: readsResults, scanned: 0, matched: 0 };
    current = r;
    fill(body);
    fill(message);
    results.hidden = false;
    cancelButton.disabled = false;
    draw(r);
    const needle = p.get('text') ?? '';
    try {
      for await (const m of getLines<SearchMessage>(`search?${p}`, r.stop.signal)) {
        if (r !== current || r.ended !== undefined) return;
        if (m.type === 'start') r.total = m.total;
        else if (m.type === 'match') {
          r.matched++;
          body.append(row(m.hit, needle));
        } else if (m.type === 'progress') {
          Object.assign(r, { scanned: m.scanned, matched: m.matched, ms: m.ms, place: `${m.queue} (${m.place})` });
        } else if (m.type === 'done') {
          Object.assign(r, { scanned: m.scanned, matched: m.matched });
          return finish(r, m.ended === 'limit' ? 'limit reached' : m.ended, m.ms);
        } else if (m.type === 'error') {
          return finish(r, 'error', undefined, `the search failed: ${m.message}`);
        }
        draw(r);
      }
      finish(r, 'error', undefined, 'the answer ended before the search did');
    } catch (err) {
      // Aborted: by Cancel (already shown), by a newer search or by leaving the page.
      if (r.stop.signal.aborted) return finish(r, 'cancelled');
      finish(r, 'error', undefined, (err as Error).message);
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = params();
    // Into the route without redrawing the page (no hashchange), so the search can be linked.
    const hash = `${route('search')}${p.toString() ? `?${p}` : ''}`;
    if (location.hash !== hash) history.pushState(null, '', hash);
    void run(p);
  });
  cancelButton.addEventListener('click', () => {
    if (!current || current.ended !== undefined) return;
    current.stop.abort();
    finish(current, 'cancelled');
  });

  // A linked search (or the header's search box) runs at once.
  if (FIELDS.some((f) => values(f))) {
    const p = params();
    // The route's times as given (the form shows them to the second).
    for (const f of ['from', 'to'] as const) if (values(f) && p.has(f)) p.set(f, values(f));
    void run(p);
  } else text.focus();

  return () => {
    stopped = true;
    current?.stop.abort();
  };
};
