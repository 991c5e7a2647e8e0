// Output of the operation commands: aligned text tables, key/value blocks, JSON, and short
// human forms of ages, durations and times. No dependency: the tables are simple.

/** Where a command writes: stdout lines and stderr lines. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export interface Column<R> {
  header: string;
  value: (row: R) => string | number | undefined;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

/** Rows as an aligned table with a header line; `empty` is printed when there are none. */
export function table<R>(rows: R[], columns: Column<R>[], empty = '(none)'): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((r) => columns.map((c) => oneLine(c.value(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n');
}

/** `key: value` lines with the values aligned; undefined values are left out. */
export function keyValues(pairs: [string, unknown][]): string {
  const shown = pairs.filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  // A value starting with a newline (a stack) goes below its key, without trailing blanks.
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${typeof v === 'string' ? v : stringify(v)}`.replace(/ +\n/, '\n')).join('\n');
}

/** JSON for machine output: Buffers as base64, undefined fields dropped. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return Buffer.from((v as { data: number[] }).data).toString('base64');
    }
    return v;
  }, 2);
}

/** A value for people: strings as they are, anything else as compact JSON. */
export function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** 1.2s, 3m 4s, 2h 5m, 3d 1h: a duration in ms, to the two largest units. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const units: [string, number][] = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = s;
  for (const [unit, size] of units) {
    if (rest >= size || parts.length > 0) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** An epoch-ms time as ISO 8601 (UTC), or '-'. */
export function time(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) || ms <= 0 ? '-' : new Date(ms).toISOString();
}

/** Cuts a value to `max` characters for a table cell. */
export function cut(value: string, max = 60): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}

function oneLine(v: string | number | undefined): string {
  if (v === undefined) return '-';
  return String(v).replace(/\s*\n\s*/g, ' ');
}
