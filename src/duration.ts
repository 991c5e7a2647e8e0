// The one parser for durations in options: '250ms', '30s', '5m', '2h', '1d' or milliseconds.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

export type Duration = number | string;

/** Milliseconds for a duration; throws a TypeError naming `what` when it is not one. */
export function parseDuration(value: Duration, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const m = PATTERN.exec(value);
    if (m) return Math.round(Number(m[1]) * UNITS[m[2]!]!);
    if (/^\s*\d+\s*$/.test(value)) return Number(value);
  }
  throw new TypeError(
    `${what}: ${JSON.stringify(value)} is not a duration; use milliseconds (a number >= 0) or a string like '250ms', '30s', '5m', '2h', '1d'`,
  );
}
