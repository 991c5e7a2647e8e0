// A queue: its live counts and paused state (with Pause / Resume unless read-only), its fair
// groups (../groups.ts), and its jobs in one state, a page at a time (paginated on the server).

import { get, q } from '../api.js';
import type { Page } from '../context.js';
import { fill, h, link, notice, route, table } from '../dom.js';
import { time } from '../format.js';
import { PauseButtons } from '../pause.js';
import { historyBlock } from '../history.js';
import { groupsBlock } from '../groups.js';
import type { JobPage } from '../../../src/overseer/types.js';

const STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'aborted', 'expired'] as const;
// Rows per page (the API's default is 50): 20 keeps every page within ~25 Redis commands. A
// delayed page is one script (peek.lua) reading each row's record with its own HMGET, which
// Redis counts as commands: 20 rows cost 23, 50 cost 53.
const PAGE = 20;

/** How each listing is ordered (the server reads a bounded chunk per page, see docs/dashboard.md). */
const ORDER: Record<(typeof STATES)[number], string> = {
  waiting: 'Highest priority first, newest first within a priority.',
  active: 'Running now, by priority.',
  delayed: 'Soonest due first.',
  completed: 'Kept results, newest first within each page (pages follow the order results are stored in).',
  failed: 'Kept results, newest first within each page (pages follow the order results are stored in).',
  aborted: 'Kept results, newest first within each page (pages follow the order results are stored in).',
  expired: 'Kept results, newest first within each page (pages follow the order results are stored in).',
};

export const queue: Page = ({ root, live, meta, params, query, left }) => {
  const name = params[0] ?? '';
  const status = STATES.find((s) => s === query.get('status')) ?? 'waiting';
  const badge = h('span', { class: 'tag paused', id: 'queue-paused', hidden: true, title: 'workers fetch none of its jobs; running ones finish' }, 'paused');
  const counts = h('p', { class: 'summary' });
  const message = h('div');
  // Drawn apart from the counts, which are redrawn on every snapshot: a button being clicked stays.
  const actions = h('p', { class: 'actions', hidden: true });
  const buttons = meta.readOnly ? undefined : new PauseButtons(message, (action) => action);
  const hint = h('span', { class: 'hint' });
  const list = h('div', null, notice('loading…'));
  const pager = h('p', { class: 'pager' });
  const tabs = h('nav', { class: 'tabs' }, STATES.map((s) => h('a', { href: `${route('queue', name)}?status=${s}`, class: s === status ? 'current' : undefined }, s)));
  const order = h('p', { class: 'hint' }, ORDER[status]);
  const groups = groupsBlock(name, meta.readOnly, message);
  fill(root, h('h1', null, 'Queue ', h('span', { class: 'name' }, name), ' ', badge), counts, message, actions, groups.el, tabs, order, list, pager, h('p', null, link('dead letters of this queue', 'dlq', name)));

  const drawCounts = () => {
    groups.refresh();
    const s = live.snapshot?.queues.find((x) => x.name === name);
    badge.hidden = !s?.paused;
    if (buttons && s) {
      const button = buttons.button(name, s.paused);
      if (!actions.firstChild) fill(actions, button, ' ', hint);
      hint.textContent = s.paused ? 'Paused: workers fetch none of its jobs until it is resumed.' : 'Pausing stops workers fetching its jobs within a second; running jobs finish.';
    }
    actions.hidden = !s || !buttons;
    if (!s) return fill(counts, live.snapshot ? 'not in the latest snapshot' : '');
    fill(counts, `${s.readyTotal} ready (${s.levels.map((l) => `${l} ${s.ready[l] ?? 0}`).join(', ')}${s.grouped > 0 ? `, in groups ${s.grouped}` : ''}), ${s.delayed} delayed, ${s.running} running, ${s.dlq} dead letters, ${s.workers} worker(s)`);
  };

  const load = (cursor: string, previous: string[]) => {
    get<JobPage>(`queues/${q(name)}/jobs?status=${status}&limit=${PAGE}${cursor ? `&cursor=${q(cursor)}` : ''}`).then(
      (page) => {
        if (left()) return;
        const when = status === 'delayed' ? 'due' : ['waiting', 'active'].includes(status) ? '' : 'finished';
        fill(list, table(
          ['id', 'task', 'priority', 'attempt', ...(when ? [when] : []), ...(status === 'active' ? ['worker'] : [])],
          page.jobs.map((j) => [
            link(h('code', null, j.id), 'job', name, j.id), j.task ?? '—', j.priority ?? '—', j.attempt ?? '—',
            ...(when === 'due' ? [time(j.dueAt)] : when ? [time(j.finishedAt)] : []),
            ...(status === 'active' ? [j.worker ?? '—'] : []),
          ]),
          // A page is a few bounded reads (ended jobs: a walk of the keyspace), which may meet none.
          page.next ? `no ${status} jobs in this part of the queue: read on with next →` : `no ${status} jobs`,
        ));
        fill(
          pager,
          previous.length > 0 ? h('button', { type: 'button', onclick: () => load(previous.at(-1)!, previous.slice(0, -1)) }, '← previous') : null,
          ` page ${previous.length + 1} `,
          page.next ? h('button', { type: 'button', onclick: () => load(page.next!, [...previous, cursor]) }, 'next →') : null,
        );
      },
      (err: Error) => !left() && fill(list, notice(err.message, 'error')),
    );
  };
  load('', []);
  drawCounts();
  // The queue's throughput per minute over the last 24 h, below the jobs.
  const history = historyBlock(name);
  root.appendChild(history.el);
  const onResize = () => history.resize();
  window.addEventListener('resize', onResize);
  const unwatch = live.watch(drawCounts);
  return () => {
    unwatch();
    window.removeEventListener('resize', onResize);
    history.stop();
  };
};
