// A queue's fair groups (docs/flow-control.md#fair-groups) on its page: each group with jobs
// waiting or paused, its jobs waiting, its own limits, and (unless read-only) its Pause / Resume
// button. Read again at most every few seconds as the live snapshots come; hidden while the
// queue has no groups.

import { get, post, q } from './api.js';
import { fill, h, notice, table } from './dom.js';
import type { GroupSummary } from '../../src/broker/types.js';
import { describeGroupLimits } from '../../src/broker/groupLimits.js';

/** Reads at most this often (each read costs the queue's groups one LLEN each). */
const EVERY_MS = 2000;

export function groupsBlock(queue: string, readOnly: boolean, message: HTMLElement): { el: HTMLElement; refresh(force?: boolean): void } {
  const body = h('div');
  const el = h('section', { id: 'groups', hidden: true }, h('h2', null, 'Groups'), h('p', { class: 'hint' }, 'Fair groups: served round robin, one job of each group per turn.'), body);
  let last = 0;
  let reading = false;
  const draw = (groups: GroupSummary[]) => {
    el.hidden = groups.length === 0;
    fill(body, table(
      ['group', 'waiting', 'own limits', ...(readOnly ? [] : [''])],
      groups.map((g) => [
        [h('code', null, g.key), g.paused ? [' ', h('span', { class: 'tag paused', 'data-group': g.key }, 'paused')] : null],
        h('span', { class: 'num', 'data-group': g.key, 'data-field': 'waiting' }, g.waiting),
        g.limits ? describeGroupLimits(g.limits) : '—',
        ...(readOnly ? [] : [h('button', { type: 'button', class: 'pause-toggle', 'data-group': g.key, onclick: () => toggle(g) }, g.paused ? 'Resume' : 'Pause')]),
      ]),
    ));
  };
  const refresh = (force = false) => {
    if (reading || (!force && Date.now() - last < EVERY_MS)) return;
    reading = true;
    last = Date.now();
    get<{ groups: GroupSummary[] }>(`queues/${q(queue)}/groups`).then(
      (r) => draw(r.groups),
      () => undefined, // the page's own reads say when the dashboard cannot reach Redis
    ).finally(() => (reading = false));
  };
  const toggle = (g: GroupSummary) => {
    const action = g.paused ? 'resume' : 'pause';
    post<{ paused: boolean }>(`queues/${q(queue)}/groups/${action}`, { group: g.key }).then(
      (r) => {
        fill(message, notice(`group ${g.key} ${r.paused ? 'paused' : 'resumed'}`, 'ok'));
        refresh(true);
      },
      (err: Error) => fill(message, notice(`${action} of group ${g.key} failed: ${err.message}`, 'error')),
    );
  };
  return { el, refresh };
}
