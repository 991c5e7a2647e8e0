// Overseer's front end: hash routes to pages, one live connection shared by them, and the
// search box (a job by its exact id, else a search of the jobs for the text). Plain
// TypeScript; all job data is put on the page as text.

import { ApiError, get, q } from './api.js';
import type { Meta, Page } from './context.js';
import { fill, notice, route } from './dom.js';
import { Live } from './live.js';
import { cron } from './pages/cron.js';
import { dlq } from './pages/dlq.js';
import { events } from './pages/events.js';
import { job } from './pages/job.js';
import { overview } from './pages/overview.js';
import { queue } from './pages/queue.js';
import { reports } from './pages/reports.js';
import { search as searchPage } from './pages/search.js';
import { workers } from './pages/workers.js';

const PAGES: Record<string, Page> = { '': overview, queue, job, workers, dlq, cron, events, 'load-tests': reports, search: searchPage };

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

async function start(): Promise<void> {
  const root = byId('page');
  let meta: Meta;
  try {
    meta = await get<Meta>('meta');
  } catch (err) {
    fill(root, notice(err instanceof ApiError && err.status === 401 ? `${err.message}` : `cannot reach the dashboard's API: ${(err as Error).message}`, 'error'));
    return;
  }
  document.body.classList.toggle('read-only', meta.readOnly);
  byId('meta').textContent = `prefix ${meta.prefix}${meta.readOnly ? ' · read-only' : ''}`;
  const live = new Live(byId('live'));
  live.start();

  let leave: (() => void) | void;
  let visit = 0;
  // Shown above the search page the header's box leads to: why it is not a job's page.
  let searchNote: HTMLElement | undefined;
  const show = () => {
    leave?.();
    const current = ++visit;
    const hash = location.hash.replace(/^#\/?/, '');
    const [path = '', search = ''] = hash.split('?');
    const [name = '', ...params] = path.split('/').map((p) => decodeURIComponent(p));
    const page = PAGES[name];
    for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) a.classList.toggle('current', a.dataset.nav === (name || 'overview'));
    if (!page) {
      fill(root, notice(`no such page: ${hash}`, 'error'));
      return;
    }
    leave = page({ root, live, meta, params, query: new URLSearchParams(search), left: () => current !== visit });
    if (searchNote && name === 'search') root.prepend(searchNote);
    searchNote = undefined;
  };
  window.addEventListener('hashchange', show);
  show();

  byId<HTMLFormElement>('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = byId<HTMLInputElement>('search-id');
    const id = input.value.trim();
    if (!id) return;
    get<{ queue: string; id: string }>(`jobs/find/${q(id)}`).then(
      (found) => {
        location.hash = route('job', found.queue, found.id);
      },
      (err: Error) => {
        if (err instanceof ApiError && err.status === 404) {
          // No job has that id: search the jobs for it as text.
          searchNote = notice(`${err.message}; searching the jobs for it as text`, 'error');
          const target = `${route('search')}?${new URLSearchParams({ text: id })}`;
          if (location.hash === target) show();
          else location.hash = target;
          return;
        }
        leave?.();
        visit++;
        fill(root, notice(err.message, 'error'));
      },
    );
  });
}

void start();
