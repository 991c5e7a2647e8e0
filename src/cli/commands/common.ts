// What every operation command shares: the --app and --json options, running a command body
// with the app open (errors turned into a message and an exit code), and flag parsers.

import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../../duration.js';
import { checkRedis, CliError, openApp, withTimeout, type Opened, type OpsApp } from '../app.js';
import { isConfigError, UsageError } from '../load.js';
import { json, type Output } from '../output.js';

/** Hands a command's work to the program, which awaits it and exits with its code. */
export type Schedule = (run: () => Promise<number>) => Promise<void>;

export interface GlobalFlags {
  app?: string;
  json?: boolean;
}

/** One command run: the app, where to write, and whether to write JSON. */
export interface Session {
  app: OpsApp;
  opened: Opened;
  out: Output;
  json: boolean;
  /** Prints `human()` as text, or `data` as JSON with --json. */
  print(data: unknown, human: () => string): void;
}

export interface Kit {
  out: Output;
  /**
   * Runs `body` with the app open and Redis checked (unless `redis: 'optional'`), closes the
   * app after, and maps CliError / UsageError / ConfigError to a message and an exit code.
   */
  run(flags: GlobalFlags, body: (s: Session) => Promise<number | void>, options?: { redis?: 'required' | 'optional' }): Promise<void>;
}

export function makeKit(out: Output, schedule: Schedule): Kit {
  return {
    out,
    run: (flags, body, options = {}) =>
      schedule(async () => {
        let opened: Opened | undefined;
        try {
          opened = await openApp(flags.app);
          if (options.redis !== 'optional') await checkRedis(opened);
          const session: Session = {
            app: opened.app,
            opened,
            out,
            json: flags.json === true,
            print: (data, human) => out.out(flags.json ? json(data) : human()),
          };
          return (await body(session)) ?? 0;
        } catch (err) {
          if (err instanceof CliError) {
            out.err(`millrace: ${err.message}`);
            return err.exitCode;
          }
          if (err instanceof UsageError || isConfigError(err)) {
            out.err(`millrace: ${err.message}`);
            return 2;
          }
          throw err;
        } finally {
          // Bounded: closing must not hang a command whose Redis went away.
          if (opened) await withTimeout(opened.app.close(), 2000, 'close').catch(() => undefined);
        }
      }),
  };
}

/** Adds --app (and --json unless `json: false`) to a command. */
export function withCommon(cmd: Command, options: { json?: boolean } = {}): Command {
  cmd.option('--app <module>', "load the app from a module, as 'millrace worker' does ('path.ts[:export]'); default: a plain app from REDIS_URL / MILLRACE_PREFIX");
  if (options.json !== false) cmd.option('--json', 'print JSON instead of a table');
  return cmd;
}

export function intAtLeast(min: number, flag: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${flag} expects an integer >= ${min}.`);
    }
    return n;
  };
}

/** Milliseconds of a flag's text: seconds as a bare number, or a duration like '30s' / '500ms' / '2m'. */
function flagMs(raw: string, flag: string): number {
  if (/^\s*\d+(\.\d+)?\s*$/.test(raw)) return Number(raw) * 1000;
  try {
    return parseDuration(raw);
  } catch {
    throw new InvalidArgumentError(`${flag} expects seconds (e.g. 30) or a duration like '30s', '500ms', '2m'.`);
  }
}

/** A seconds-or-duration flag's parser; returns milliseconds. */
export function seconds(flag: string) {
  return (raw: string): number => flagMs(raw, flag);
}

/**
 * Checks a seconds-or-duration flag as commander parses it, but keeps the text: the settings
 * layer reads it as it reads a variable, and its messages quote it as given.
 */
export function secondsText(flag: string) {
  return (raw: string): string => {
    flagMs(raw, flag);
    return raw;
  };
}

/**
 * A seconds-or-duration flag with a default, shown once in --help as '(default: 30)' (in
 * seconds, as the flag takes it): descriptions leave the default out.
 */
export function secondsOption(flags: string, description: string, defaultMs: number): Option {
  const option = new Option(flags, description);
  return option.argParser(seconds(option.long ?? flags)).default(defaultMs, String(defaultMs / 1000));
}

export const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'aborted', 'expired'] as const;
