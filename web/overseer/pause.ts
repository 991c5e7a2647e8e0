// A queue's paused state: its badge, and (unless read-only) its Pause / Resume button. The
// state shown is the live snapshot's (what Redis holds); a button keeps its element across
// redraws, so a click under way survives the snapshot that replaces the table around it.

import { post, q } from './api.js';
import { fill, h, notice } from './dom.js';

/** The badge of a paused queue. */
export function pausedBadge(queue: string): HTMLSpanElement {
  return h('span', { class: 'tag paused', 'data-q': queue, 'data-field': 'paused', title: 'paused: workers fetch none of its jobs; running ones finish' }, 'paused');
}

/** How long a button waits for the snapshot to show what it asked for, before it shows the snapshot again. */
const PENDING_MS = 10_000;

export class PauseButtons {
  private readonly buttons = new Map<string, HTMLButtonElement>();
  /** Queues whose pause or resume was asked for, until the snapshot shows it. */
  private readonly pending = new Map<string, { paused: boolean; until: number }>();
  private readonly shown = new Map<string, boolean>();

  /**
   * @param message where an action's outcome is told
   * @param id the button's id for its state ('pause' / 'resume'), on a page that has one button
   */
  constructor(
    private readonly message: HTMLElement,
    private readonly id?: (action: 'pause' | 'resume') => string,
  ) {}

  /** The queue's button (always the same element), set to its state in the latest snapshot. */
  button(queue: string, paused: boolean): HTMLButtonElement {
    let b = this.buttons.get(queue);
    if (!b) {
      b = h('button', { type: 'button', class: 'pause-toggle', 'data-q': queue, onclick: () => this.toggle(queue) });
      this.buttons.set(queue, b);
    }
    this.shown.set(queue, paused);
    const asked = this.pending.get(queue);
    if (asked && (asked.paused === paused || Date.now() > asked.until)) this.pending.delete(queue);
    const waiting = this.pending.get(queue);
    const action = paused ? 'resume' : 'pause';
    b.dataset.action = action;
    if (this.id) b.id = this.id(action);
    b.disabled = waiting !== undefined;
    b.textContent = waiting ? (waiting.paused ? 'Pausing…' : 'Resuming…') : paused ? 'Resume' : 'Pause';
    b.title = paused ? 'Workers start fetching its jobs again' : 'Workers stop fetching its jobs within a second; running jobs finish';
    return b;
  }

  private toggle(queue: string): void {
    const paused = !(this.shown.get(queue) ?? false);
    const action = paused ? 'pause' : 'resume';
    this.pending.set(queue, { paused, until: Date.now() + PENDING_MS });
    this.button(queue, !paused);
    post<{ paused: boolean }>(`queues/${q(queue)}/${action}`).then(
      (r) => {
        fill(this.message, notice(`queue ${queue} ${r.paused ? 'paused' : 'resumed'}`, 'ok'));
      },
      (err: Error) => {
        this.pending.delete(queue);
        this.button(queue, this.shown.get(queue) ?? false);
        fill(this.message, notice(`${action} failed: ${err.message}`, 'error'));
      },
    );
  }
}
