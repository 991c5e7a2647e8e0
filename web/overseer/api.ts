// The dashboard's JSON API, relative to the page (so any base path works).

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(body.error ?? `${res.status} ${res.statusText}`, res.status);
  return body as T;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(`api/${path}`, { headers: { Accept: 'application/json' }, credentials: 'same-origin' }));
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return answer<T>(
    await fetch(`api/${path}`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    }),
  );
}

export const q = encodeURIComponent;

/**
 * A GET answering newline-delimited JSON: each line parsed as it arrives. Aborting `signal`
 * ends the request (the server sees the client go); an error status throws an ApiError.
 */
export async function* getLines<T>(path: string, signal: AbortSignal): AsyncGenerator<T> {
  const res = await fetch(`api/${path}`, { headers: { Accept: 'application/x-ndjson, application/json' }, credentials: 'same-origin', signal });
  if (!res.ok) await answer(res); // throws the server's error
  if (!res.body) throw new ApiError(`${res.status} ${res.statusText}: no body`, res.status);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim()) yield JSON.parse(line) as T;
      }
    }
    ended = true;
    buffer += decoder.decode();
    if (buffer.trim()) yield JSON.parse(buffer) as T;
  } finally {
    // Left early (the caller stopped reading): close the request.
    if (!ended) reader.cancel().catch(() => undefined);
  }
}
