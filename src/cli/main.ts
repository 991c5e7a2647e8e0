// The millrace command line: `millrace worker <module>[:export]` loads a user's module and runs
// a worker for its app until SIGTERM/SIGINT. (The full CLI is built on this later.)

import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../duration.js';

/** Exit code for a usage error: a bad flag, a missing module or export. */
export const USAGE_ERROR = 2;

const MODULE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** What the CLI needs of an app. Duck-typed: the user's module may load its own copy of millrace. */
export interface AppLike {
  readonly kind: 'millrace';
  readonly log: { level: string };
  queue(...args: unknown[]): unknown;
  worker(options: Record<string, unknown>): { run(): Promise<void>; readonly id: string };
  close(): Promise<void>;
}

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function isApp(value: unknown): value is AppLike {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.kind === 'millrace' && typeof v.worker === 'function' && typeof v.queue === 'function';
}

/** Splits `path/to/app.ts:exportName` (the export part is optional). */
export function parseTarget(target: string): { file: string; exportName: string | undefined } {
  const m = /^(.+):([A-Za-z_$][\w$]*)$/.exec(target);
  return m ? { file: m[1]!, exportName: m[2] } : { file: target, exportName: undefined };
}

/** The absolute path of the module, trying the known extensions when none is given. */
export function resolveModule(file: string, cwd = process.cwd()): string {
  const abs = resolve(cwd, file);
  const candidates = [abs, ...MODULE_EXTENSIONS.map((ext) => abs + ext)];
  const found = candidates.find((p) => existsSync(p) && statSync(p).isFile());
  if (!found) {
    throw new UsageError(
      `cannot find module '${file}' (looked for ${abs}): give the path of a .ts or .js file ` +
        `relative to the current directory, optionally followed by ':exportName', e.g. 'src/worker.ts:app'`,
    );
  }
  return found;
}

/** Picks the app: the named export, else `app`, else the default export, else the first app-like export. */
export function pickApp(mod: Record<string, unknown>, file: string, exportName: string | undefined): { app: AppLike; name: string } {
  const apps = Object.keys(mod).filter((k) => isApp(mod[k]));
  const found = apps.length ? `exports that are Millrace apps: ${apps.join(', ')}` : 'it exports no Millrace app';
  if (exportName !== undefined) {
    if (!(exportName in mod)) throw new UsageError(`module '${file}' has no export '${exportName}' (${found})`);
    const value = mod[exportName];
    if (!isApp(value)) throw new UsageError(`export '${exportName}' of '${file}' is not a Millrace app (${found})`);
    return { app: value, name: exportName };
  }
  for (const name of ['app', 'default', ...apps]) {
    if (isApp(mod[name])) return { app: mod[name], name };
  }
  throw new UsageError(
    `module '${file}' exports no Millrace app: export one as 'app' (or default), ` +
      `or name it: 'millrace worker ${file}:myApp'`,
  );
}

function intAtLeast(min: number, flag: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${flag} expects an integer >= ${min}.`);
    }
    return n;
  };
}

/** Seconds as a bare number, or a duration like '30s' / '500ms'; returns milliseconds. */
function seconds(raw: string): number {
  if (/^\s*\d+(\.\d+)?\s*$/.test(raw)) return Number(raw) * 1000;
  try {
    return parseDuration(raw);
  } catch {
    throw new InvalidArgumentError("--shutdown-timeout expects seconds (e.g. 30) or a duration like '30s', '500ms', '2m'.");
  }
}

function collectQueues(raw: string, previous: string[] | undefined): string[] {
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError('--queue expects a queue name (repeat the flag or separate names by commas).');
  return [...(previous ?? []), ...names];
}

function packageVersion(): string {
  // src/cli/main.ts and dist/cli/main.js are both two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

interface WorkerFlags {
  queue?: string[];
  concurrency?: number;
  shutdownTimeout?: number;
  logLevel?: string;
}

async function runWorker(target: string, flags: WorkerFlags, out: Output): Promise<number> {
  const { file, exportName } = parseTarget(target);
  const path = resolveModule(file);
  // Before the import, so an app built at import time picks the level up.
  if (flags.logLevel) process.env.MILLRACE_LOG_LEVEL = flags.logLevel;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    out.err(`millrace: could not load module '${file}':`);
    out.err(err instanceof Error ? (err.stack ?? err.message) : String(err));
    return 1;
  }
  const { app } = pickApp(mod, file, exportName);
  if (flags.logLevel) app.log.level = flags.logLevel;
  let worker: ReturnType<AppLike['worker']>;
  try {
    worker = app.worker({
      ...(flags.queue ? { queues: flags.queue } : {}),
      ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
      ...(flags.shutdownTimeout !== undefined ? { shutdownTimeout: flags.shutdownTimeout } : {}),
      handleSignals: true,
    });
  } catch (err) {
    // A ConfigError (e.g. an unknown queue) names the option and what it accepts.
    if (err instanceof Error && err.name === 'ConfigError') throw new UsageError(err.message);
    throw err;
  }
  try {
    await worker.run();
  } finally {
    await app.close();
  }
  return 0;
}

interface Output {
  out(line: string): void;
  err(line: string): void;
}

const stdio: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export function buildProgram(out: Output = stdio): { program: Command; done: () => Promise<number> } {
  let action: Promise<number> = Promise.resolve(0);
  const program = new Command('millrace')
    .description('Background task queue and worker framework for TypeScript, on Redis Streams.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  program.addHelpText('after', `
Examples:
  $ millrace worker examples/app.ts                  run every queue of the module's 'app'
  $ millrace worker src/tasks.ts:app --queue system  run one queue
  $ millrace worker dist/tasks.js:tasks --queue a --queue b --concurrency 20 --shutdown-timeout 60

Redis is REDIS_URL (default redis://127.0.0.1:6379); every setting can also come from MILLRACE_* variables.`);

  program
    .command('worker')
    .description("run a worker for a module's Millrace app until SIGTERM/SIGINT, then stop gracefully")
    .argument('<module>', "path of a .ts or .js file relative to the current directory, optionally ':export' (default: app, else the default export)")
    .option('-q, --queue <name>', 'queue to serve; repeat or separate by commas (default: every queue of the app)', collectQueues)
    .option('-c, --concurrency <n>', "jobs run at once per queue (overrides the queues' settings)", intAtLeast(1, '--concurrency'))
    .option('--shutdown-timeout <seconds>', "grace period for running jobs at shutdown: seconds or a duration like '30s' (default 30)", seconds)
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .addHelpText('after', `
Examples:
  $ millrace worker examples/app.ts
  $ millrace worker src/tasks.ts:app --queue system --concurrency 5
  $ millrace worker app.js --queue load_test --shutdown-timeout 10s --log-level debug`)
    .action((target: string, flags: WorkerFlags) => {
      action = runWorker(target, flags, out);
      return action.then(() => undefined);
    });

  return { program, done: () => action };
}

/** Runs the CLI on `argv` (as process.argv); resolves with the exit code. */
export async function main(argv: string[] = process.argv, out: Output = stdio): Promise<number> {
  const { program, done } = buildProgram(out);
  try {
    await program.parseAsync(argv);
    return await done();
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every parse error is a usage error.
      return err.exitCode === 0 ? 0 : USAGE_ERROR;
    }
    if (err instanceof UsageError) {
      out.err(`millrace: ${err.message}`);
      return USAGE_ERROR;
    }
    out.err(`millrace: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}
