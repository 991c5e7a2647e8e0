// A logger for tests that keeps the lines it is given, and the connection errors among them.

import { pino, type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  err?: unknown;
  connection?: string;
  check?: string;
}

/** A logger that keeps its lines (warn and up). */
export function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

/** The connection errors the connections logged (warn: retried; error: a setting to check). */
export const connectionWarnings = (lines: LogLine[]) => lines.filter((l) => (l.level === 40 && l.msg === 'Redis connection error; reconnecting') || (l.level === 50 && l.msg.startsWith('Redis connection refused: check ')));
