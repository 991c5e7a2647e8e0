// Cron schedules: those of the dashboard app's code and those stored at runtime, with the next run.

import { get } from '../api.js';
import type { Page } from '../context.js';
import { fill, h, link, notice, table } from '../dom.js';
import { relative, time } from '../format.js';
import type { ScheduleInfo } from '../../../src/cron.js';

export const cron: Page = ({ root, left }) => {
  const list = h('div', null, notice('loading…'));
  fill(root, h('h1', null, 'Cron schedules'), h('p', { class: 'hint' }, "Schedules stored in Redis (app.addSchedule), and those in the code of the dashboard's app (--app)."), list);
  get<{ schedules: ScheduleInfo[] }>('cron').then(
    ({ schedules }) => {
      if (left()) return;
      fill(list, table(
        ['name', 'pattern', 'time zone', 'task', 'queue', 'arguments', 'source', 'next run'],
        schedules.map((s) => [s.name, h('code', null, s.pattern), s.tz ?? '—', s.task, link(s.queue, 'queue', s.queue), h('code', null, JSON.stringify(s.args)), s.source,
          s.nextRunAt === undefined ? '—' : `${time(s.nextRunAt)} (${relative(s.nextRunAt)})`]),
        'no cron schedules',
      ));
    },
    (err: Error) => !left() && fill(list, notice(err.message, 'error')),
  );
};
