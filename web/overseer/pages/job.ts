// A job: task, arguments and result as JSON text, error and stack, attempts, progress, log
// lines and times; refreshed while it is not finished; abort when it can still be stopped.

import { get, post, q } from '../api.js';
import type { Page } from '../context.js';
import { fill, h, jsonBlock, link, notice, table } from '../dom.js';
import { duration, relative, time } from '../format.js';
import type { JobDetail } from '../../../src/overseer/types.js';
import type { AttemptView, TimelineView } from '../../../src/overseer/views.js';

const LIVE_STATES = ['waiting', 'delayed', 'active'];

function facts(j: JobDetail): HTMLElement {
  const rows: [string, string | Node][] = [
    ['status', h('span', { class: `tag ${j.status === 'completed' ? 'ok' : j.status === 'failed' ? 'bad' : ''}`, id: 'job-status' }, j.status)],
    ['queue', link(j.queue, 'queue', j.queue)],
    ['task', j.task ?? '—'],
    ['priority', j.priority ?? '—'],
    ['attempts', String(j.attempts)],
    ['deliveries', String(j.deliveries)],
    ['worker', j.worker ?? '—'],
    ['enqueued', time(j.enqueuedAt)],
    ['due', j.dueAt === undefined ? '—' : `${time(j.dueAt)} (${relative(j.dueAt)})`],
    ['started', time(j.startedAt)],
    ['finished', time(j.finishedAt)],
    ['ran for', j.startedAt !== undefined && j.finishedAt !== undefined ? duration(j.finishedAt - j.startedAt) : '—'],
    ['abort requested', j.abortRequested ? 'yes' : 'no'],
  ];
  if (j.lastError) rows.push(['last error', j.lastError]);
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

const OUTCOME_CLASS: Partial<Record<AttemptView['outcome'], string>> = { completed: 'ok', failed: 'bad', dead: 'bad', aborted: 'bad', interrupted: 'bad' };

/** The attempts the queue's events tell: one row each, and why the list may be incomplete. */
function attemptsTable(t: TimelineView): HTMLElement {
  const rows = t.attempts.map((a) => [
    a.attempt, a.worker ? h('code', null, a.worker) : '—', time(a.startedAt), time(a.endedAt), duration(a.durationMs),
    h('span', { class: `tag ${OUTCOME_CLASS[a.outcome] ?? ''}` }, a.outcome, a.deadReason ? ` (${a.deadReason})` : '', a.retryDelayMs !== undefined ? `, retry in ${duration(a.retryDelayMs)}` : ''),
    a.error ? h('span', { class: 'error-text', title: a.error }, a.error) : '—',
  ]);
  return h('div', { id: 'job-attempts' },
    table(['#', 'worker', 'started', 'ended', 'duration', 'outcome', 'error'], rows, 'no attempt in the events read'),
    t.partial ? h('p', { class: 'hint', id: 'attempts-partial' }, `partial: ${t.reasons.join('; ')}`) : null);
}

export const job: Page = ({ root, meta, params, left }) => {
  const [queue = '', id = ''] = params;
  const body = h('div', null, notice('loading…'));
  const message = h('div');
  // Drawn apart from the details, which are redrawn every 2 s: a button being clicked stays.
  const actions = h('div');
  fill(root, h('h1', null, 'Job ', h('code', { class: 'name' }, id)), message, actions, body);
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Kept across redraws of the details; read again when the job's attempts or state change.
  const attempts = h('div', null, notice('loading…'));
  let attemptsKey = '';
  let attemptsTimer: ReturnType<typeof setTimeout> | undefined;
  const loadAttempts = (key: string, again: boolean) => {
    get<TimelineView>(`jobs/${q(queue)}/${q(id)}/timeline`).then(
      (t) => {
        if (left() || key !== attemptsKey) return;
        fill(attempts, attemptsTable(t));
        // The worker writes its events a moment after the outcome: look once more for the last one.
        const last = t.attempts.at(-1)?.outcome;
        if (again && !LIVE_STATES.includes(t.status) && (last === undefined || last === 'unknown' || last === 'running')) {
          attemptsTimer = setTimeout(() => loadAttempts(key, false), 1000);
        }
      },
      (err: Error) => !left() && fill(attempts, notice(err.message, 'error')),
    );
  };

  const abortButton = () => {
    const confirmRow = h('span', { class: 'confirm', hidden: true }, ' Abort this job? ',
      h('button', { type: 'button', class: 'danger', id: 'abort-confirm', onclick: () => {
        post<{ outcome: string }>(`jobs/${q(queue)}/${q(id)}/abort`).then(
          ({ outcome }) => { fill(message, notice(`abort: ${outcome}`, 'ok')); load(); },
          (err: Error) => fill(message, notice(err.message, 'error')),
        );
      } }, 'Yes, abort'));
    const start = h('button', { type: 'button', class: 'danger', id: 'abort', onclick: () => { confirmRow.hidden = false; } }, 'Abort job');
    return h('p', { class: 'actions' }, start, confirmRow);
  };

  const promoteButton = () => h('p', { class: 'actions' }, h('button', { type: 'button', id: 'promote', onclick: () => {
    post<{ promoted: boolean }>(`jobs/${q(queue)}/${q(id)}/promote`).then(
      () => { fill(message, notice('promoted: it runs at the workers\' next look for due jobs', 'ok')); load(); },
      (err: Error) => fill(message, notice(err.message, 'error')),
    );
  } }, 'Run now'), ' Makes the delayed job ready at once.');

  const load = () => {
    clearTimeout(timer);
    get<JobDetail>(`jobs/${q(queue)}/${q(id)}`).then(
      (j) => {
        if (left()) return;
        const running = LIVE_STATES.includes(j.status);
        const abortable = running && !meta.readOnly && !j.abortRequested;
        // Redrawn only when what can be done changes: a button being clicked stays.
        const can = !abortable ? '' : j.status === 'delayed' ? 'delayed' : 'live';
        if (actions.dataset.can !== can) {
          actions.dataset.can = can;
          fill(actions, can === 'delayed' ? promoteButton() : null, can ? abortButton() : null);
        }
        const key = `${j.status}|${j.attempts}|${j.deliveries}|${j.startedAt ?? ''}`;
        if (key !== attemptsKey) {
          attemptsKey = key;
          clearTimeout(attemptsTimer);
          loadAttempts(key, true);
        }
        fill(
          body,
          facts(j),
          h('h2', null, 'Attempts'), attempts,
          h('h2', null, 'Arguments'), jsonBlock(j.args),
          j.status === 'completed' ? [h('h2', null, 'Result'), jsonBlock(j.result)] : null,
          j.error ? [h('h2', null, 'Error'), h('p', { class: 'bad' }, `${j.error.name}: ${j.error.message}`, j.error.reason ? ` (${j.error.reason})` : ''),
            j.error.stack ? h('pre', { class: 'stack' }, j.error.stack) : null] : null,
          h('h2', null, 'Progress'), jsonBlock(j.progress),
          h('h2', null, `Log (${j.logs.length} lines)`), h('pre', { class: 'log' }, j.logs.length ? j.logs.join('\n') : '—'),
        );
        if (running) timer = setTimeout(load, 2000);
      },
      (err: Error) => !left() && fill(body, notice(err.message, 'error')),
    );
  };
  load();
  return () => {
    clearTimeout(timer);
    clearTimeout(attemptsTimer);
  };
};
