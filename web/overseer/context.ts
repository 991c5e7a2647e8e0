// What every page is given: where to draw, the live feed, the server's settings, the route.

import type { Live } from './live.js';

export interface Meta {
  readOnly: boolean;
  prefix: string;
  intervalMs: number;
  staleAfterMs: number;
}

export interface PageContext {
  root: HTMLElement;
  live: Live;
  meta: Meta;
  /** The route's parts after the page name, decoded. */
  params: string[];
  query: URLSearchParams;
  /** True once the user left the page (async work should stop drawing). */
  left(): boolean;
}

/** Draws a page; returns what to undo when leaving it. */
export type Page = (ctx: PageContext) => (() => void) | void;
