// The millrace command line: `millrace worker <module>[:export]` loads a user's module and runs
// a worker for its app (or a supervisor of several); the operation and load-test commands are
// registered from ./commands and ./loadTest.

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, importModule, isConfigError, pickApp, parseTarget, resolveModule, UsageError } from './load.js';
import { flagLayer, resolveSettings, type WorkerFlagValues } from './flags.js';
import { intAtLeast, secondsText } from './commands/common.js';
import { registerOperationCommands } from './commands/index.js';
import { registerLoadTestCommands } from './loadTest.js';
import { pollingFromEnv, supervise, SUPERVISED_ENV } from './supervisor.js';

export { isApp, pickApp, parseTarget, resolveModule, UsageError, type AppLike } from './load.js';

/** Exit code for a usage error: a bad flag, a missing module or export. */
export const USAGE_ERROR = 2;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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

interface WorkerFlags extends WorkerFlagValues {
  queue?: string[];
  concurrency?: number;
  workers?: number;
  reload?: boolean;
  burst?: boolean;
}

/** The command line of one supervised worker: the same flags but --workers and --reload. */
function childArgs(target: string, flags: WorkerFlags): string[] {
  const args = ['worker', target];
  for (const q of flags.queue ?? []) args.push('--queue', q);
  if (flags.concurrency !== undefined) args.push('--concurrency', String(flags.concurrency));
  if (flags.shutdownTimeout !== undefined) args.push('--shutdown-timeout', flags.shutdownTimeout);
  if (flags.logLevel) args.push('--log-level', flags.logLevel);
  if (flags.burst) args.push('--burst');
  if (flags.dlq !== undefined) args.push(flags.dlq ? '--dlq' : '--no-dlq');
  if (flags.heartbeatInterval !== undefined) args.push('--heartbeat-interval', flags.heartbeatInterval);
  if (flags.heartbeatTtl !== undefined) args.push('--heartbeat-ttl', flags.heartbeatTtl);
  return args;
}

async function runWorker(target: string, flags: WorkerFlags, out: Output): Promise<number> {
  const { file, exportName } = parseTarget(target);
  const path = resolveModule(file);
  // Every variable and flag, before the module loads or a supervisor starts processes: a bad
  // one is one line and exit 2, once.
  const settings = resolveSettings(flags);
  const supervised = process.env[SUPERVISED_ENV] === '1';
  if (!supervised) {
    const workers = settings.values.processes!;
    if (workers > 1 || flags.reload) {
      return supervise({
        workers,
        args: childArgs(target, flags),
        reload: flags.reload ? { dir: dirname(path), ...pollingFromEnv() } : undefined,
        log: (line) => out.err(`millrace supervisor: ${line}`),
      });
    }
  } else if (process.connected) {
    // The supervisor went away (even by SIGKILL): stop gracefully rather than run orphaned.
    process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    process.channel?.unref();
  }
  // Before the import, so an app built at import time picks the level up.
  if (flags.logLevel) process.env.MILLRACE_LOG_LEVEL = flags.logLevel;
  const { app } = pickApp(await importModule(path, file), file, exportName);
  if (flags.logLevel) app.log.level = flags.logLevel;
  // Flags are their own layer (the worker reads the keys it has): they win over the
  // environment, which wins over code options. A ConfigError (an unknown queue) is exit 2.
  const worker = app.worker({ handleSignals: true, ...(flags.burst ? { burst: true } : {}), flags: flagLayer(flags) });
  // A task's promise that nobody awaited and that rejects would end the process (Node's default):
  // the worker process this command owns logs it and goes on running jobs.
  const onStray = (err: unknown) => app.log.error({ err }, 'unhandled promise rejection in the worker process (a promise a task left unawaited?); the worker goes on');
  process.on('unhandledRejection', onStray);
  try {
    await worker.run();
  } finally {
    process.off('unhandledRejection', onStray);
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
    // Commander's message and the hint on one line, as every usage error is.
    .configureOutput({ outputError: (message, write) => write(`${message.trimEnd()} (run with --help for usage)\n`) });
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
    .option('--shutdown-timeout <seconds>', "grace period for running jobs at shutdown: seconds or a duration like '30s' (default 30)", secondsText('--shutdown-timeout'))
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .option('-w, --workers <n>', 'worker processes, under a supervisor that restarts crashed ones (default: MILLRACE_WORKERS or WORKER_PROCESSES, else 1)', intAtLeast(1, '--workers'))
    .option('--reload', "restart the worker when files under the module's directory change (polling when WATCHFILES_FORCE_POLLING is set)")
    .option('--burst', 'exit once the queues have no waiting, delayed or running jobs')
    .option('--dlq', "send jobs that fail for good to the dead-letter queue (overrides the queues' deadLetter)")
    .option('--no-dlq', 'record jobs that fail for good as failed, without dead-lettering them')
    .option('--heartbeat-interval <seconds>', 'how often the worker writes its heartbeat (default 10)', secondsText('--heartbeat-interval'))
    .option('--heartbeat-ttl <seconds>', 'how long a heartbeat counts; longer than the interval (default 30)', secondsText('--heartbeat-ttl'))
    .addHelpText('after', `
Examples:
  $ millrace worker examples/app.ts
  $ millrace worker src/tasks.ts:app --queue system --concurrency 5
  $ millrace worker app.js --queue load_test --shutdown-timeout 10s --log-level debug
  $ millrace worker examples/app.ts --workers 4          four processes, restarted if they crash
  $ millrace worker examples/app.ts --reload             restart on file changes (development)
  $ millrace worker examples/app.ts --queue system --burst   drain the queue, then exit`)
    .action((target: string, flags: WorkerFlags) => {
      action = runWorker(target, flags, out);
      return action.then(() => undefined);
    });

  // enqueue, status, info, result, abort, jobs, queues, workers, cleanup, dlq, health, workflow
  registerOperationCommands(program, out, (run) => {
    action = run();
    return action.then(() => undefined);
  });

  // load-test run|cpu|io|memory|failure|results
  registerLoadTestCommands(program, out, (run) => {
    action = run();
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
    if (err instanceof UsageError || isConfigError(err)) {
      out.err(`millrace: ${err.message}`);
      return USAGE_ERROR;
    }
    if (err instanceof CliError) {
      out.err(`millrace: ${err.message}`);
      return err.exitCode;
    }
    out.err(`millrace: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}
