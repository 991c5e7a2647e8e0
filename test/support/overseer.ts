// Dashboard test helpers: a handler served by node:http on a free port, fetch against it, and
// a Server-Sent Events reader that collects the messages of a stream.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Serves a fetch handler on 127.0.0.1 (a free port) through plain node:http. */
export async function serveHandler(handler: (req: Request) => Promise<Response>): Promise<Served> {
  const server: Server = createServer(getRequestListener(handler));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

export interface SseStream {
  readonly messages: SseMessage[];
  /** Messages of one event name, data parsed as JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  of(event: string): any[];
  readonly status: Promise<number>;
  /** Resolves when the stream ended (closed by the server, or here). */
  readonly ended: Promise<void>;
  close(): void;
}

/** Opens an event stream and collects its messages until closed. */
export function openStream(url: string, headers: Record<string, string> = {}): SseStream {
  const abort = new AbortController();
  const messages: SseMessage[] = [];
  let resolveStatus: (n: number) => void = () => undefined;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const ended = (async () => {
    try {
      const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
      resolveStatus(res.status);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const m: SseMessage = { event: 'message', id: undefined, data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') m.event = value;
            else if (field === 'id') m.id = value;
            else if (field === 'data') {
              m.data += (hasData ? '\n' : '') + value;
              hasData = true;
            }
          }
          if (hasData) messages.push(m);
        }
      }
    } catch {
      // Closed by the test (or the server went away).
      resolveStatus(0);
    }
  })();
  return {
    messages,
    of: (event) => messages.filter((m) => m.event === event).map((m) => JSON.parse(m.data) as unknown),
    status,
    ended,
    close: () => abort.abort(),
  };
}

/** Same-origin headers for a dashboard action (what the page's fetch sends). */
export const SAME_ORIGIN = { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'same-origin' };

/** A response's JSON, loosely typed for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function json(res: Response): Promise<any> {
  return res.json();
}
