// GET /api/events: one Server-Sent Events stream on the shared live feed. A stream that comes
// back with a Last-Event-ID is first sent the events it missed (read once from its cursors),
// then joins the feed; it never sends an event twice.

import type { Logger } from 'pino';
import type { StoredEvent } from '../broker/types.js';
import type { OverseerData } from './data.js';
import { compareCursors, decodeCursors, encodeCursors, type LiveHub, type LiveMessage } from './live.js';

/** Events per queue replayed to a stream that reconnects. */
export const CATCH_UP = 500;

/** A stream whose client reads slower than this many queued messages is closed (it reconnects). */
const MAX_QUEUED = 5000;

const encoder = new TextEncoder();

function frame(m: LiveMessage): Uint8Array {
  return encoder.encode(`event: ${m.event}\nid: ${m.id}\ndata: ${m.data}\n\n`);
}

export function eventStream(hub: LiveHub, data: OverseerData, log: Logger, lastEventId: string | null, signal: AbortSignal): Response {
  let leave: (() => void) | undefined;
  /** Nothing more may be written: the client went away, or the stream was ended here. */
  let ended = false;
  const stop = () => {
    ended = true;
    leave?.();
    leave = undefined;
  };
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const since = decodeCursors(lastEventId);
      const seen: Record<string, string> = { ...since };
      let pending: LiveMessage[] | undefined = [];
      const end = (): void => {
        if (ended) return;
        stop();
        controller.close();
      };
      const send = (m: LiveMessage): void => {
        if (ended) return;
        if (m.queue && m.cursor) {
          const last = seen[m.queue];
          if (last && compareCursors(m.cursor, last) <= 0) return;
          seen[m.queue] = m.cursor;
        }
        if ((controller.desiredSize ?? 0) < -MAX_QUEUED) return end();
        controller.enqueue(frame(m));
      };
      const joined = hub.join((m) => (pending ? pending.push(m) : send(m)), end);
      if (ended) return;
      leave = joined.leave;
      signal.addEventListener('abort', stop, { once: true });
      controller.enqueue(encoder.encode('retry: 2000\n\n'));
      let replay: StoredEvent[] = joined.recent;
      if (Object.keys(since).length > 0) {
        try {
          replay = await data.eventsAfter(since, CATCH_UP);
        } catch (err) {
          log.warn({ err }, 'overseer: the events a stream missed could not be read');
          replay = [];
        }
      }
      // Catch-up messages carry this stream's own position; later ones the feed's.
      for (const e of replay) send(hub.eventMessage(e, encodeCursors({ ...seen, [e.queue]: e.cursor })));
      if (joined.latest) send(joined.latest);
      const queued = pending;
      pending = undefined;
      for (const m of queued) send(m);
    },
    // The client went away: the stream is already closed on this side.
    cancel: stop,
  });
  return new Response(body, {
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    },
  });
}
