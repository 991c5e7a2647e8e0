// The millrace command as a real process: `millrace worker <module>[:export]` runs jobs and
// exits 0 after a graceful stop on SIGTERM; --version; usage errors exit 2 and say what is wrong.

import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/main.js';
import { testApp, waitFor, type TestApp } from './helpers.js';
import { killChildren, runCli, startCli } from './fixtures/children.js';

const FIXTURE = 'test/fixtures/cli-app.mts';
const STARTED = '"msg":"worker started"';

describe('millrace worker', () => {
  let t: TestApp<Record<string, never>>;
  beforeEach(() => {
    t = testApp({}, 'cli');
  });
  afterEach(async () => {
    killChildren();
    await t.cleanup();
  });

  it('runs jobs of the chosen queue and exits 0 after SIGTERM', async () => {
    const child = startCli(['worker', `${FIXTURE}:app`, '--queue', 'q', '--log-level', 'info'], { MILLRACE_PREFIX: t.prefix });
    const job = await t.app.enqueueByName('echo', ['hello'], { queue: 'q' });
    const unserved = await t.app.enqueueByName('never', [], { queue: 'other' });

    const result = (await job.result({ timeout: 15_000 })) as { text: string; pid: number };
    expect(result).toMatchObject({ text: 'hello', pid: child.pid });
    expect(await unserved.status()).toBe('waiting');

    // Signal handlers are in place once the worker says it started.
    await waitFor(() => child.stdout().includes(STARTED), { what: 'the worker started log line' });
    child.proc.kill('SIGTERM');
    const exit = await child.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(child.stdout()).toContain('"msg":"worker stopped"');
  });

  it('keeps running when a task leaves a rejected promise nobody awaits, and logs it', async () => {
    const child = startCli(['worker', `${FIXTURE}:app`, '--queue', 'q', '--log-level', 'error'], { MILLRACE_PREFIX: t.prefix });
    const stray = await t.app.enqueueByName('stray', [], { queue: 'q' });
    expect(await stray.result({ timeout: 15_000 })).toBe('done anyway');
    await waitFor(() => child.stdout().includes('unhandled promise rejection'), { what: 'the stray rejection logged' });
    const after = await t.app.enqueueByName('echo', ['still here'], { queue: 'q' });
    expect(await after.result({ timeout: 10_000 })).toMatchObject({ text: 'still here', pid: child.pid });
    expect(child.stdout()).toContain('nobody awaited this');
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });

  it('rejects an unknown queue, naming the queues the app defines', async () => {
    // No ':export' here: the module's `app` export is found by default.
    const r = await runCli(['worker', FIXTURE, '--queue', 'nope'], { MILLRACE_PREFIX: t.prefix });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'worker.queues'");
    expect(r.stderr).toContain('"nope"');
    expect(r.stderr).toContain('q, other');
  });
});

describe('millrace command usage', () => {
  afterEach(() => killChildren());

  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: version });
  });

  it('shows examples in --help', async () => {
    const r = await runCli(['worker', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: millrace worker [options] <module>');
    expect(r.stdout).toContain('$ millrace worker examples/app.ts');
  });

  it('states each default once in the --help of every command', () => {
    const { program } = buildProgram({ out: () => undefined, err: () => undefined });
    const commands = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(commands)];
    // Per option, as --help prints it before wrapping: a default in the description and
    // commander's own '(default: ...)' would both show.
    const doubled = commands(program).flatMap((cmd) => {
      const help = cmd.createHelp();
      return cmd.options.map((o) => `${cmd.name()} ${o.flags}: ${help.optionDescription(o)}`).filter((line) => line.split('(default').length > 2);
    });
    expect(commands(program).length).toBeGreaterThan(20);
    expect(doubled).toEqual([]);
  });

  it('exits 2 for a missing module, saying what it looked for and what it accepts', async () => {
    const r = await runCli(['worker', 'test/fixtures/missing.mts']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cannot find module 'test/fixtures/missing.mts'");
    expect(r.stderr).toContain('.ts or .js file');
  });

  it('exits 2 for a missing export, listing the apps the module exports', async () => {
    const r = await runCli(['worker', `${FIXTURE}:nope`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("has no export 'nope'");
    expect(r.stderr).toContain('exports that are Millrace apps: app');
  });

  it('exits 2 for an export that is not an app', async () => {
    const r = await runCli(['worker', `${FIXTURE}:notAnApp`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("export 'notAnApp'");
    expect(r.stderr).toContain('is not a Millrace app');
  });

  it.each([
    [['--concurrency', '0'], '--concurrency expects an integer >= 1'],
    [['--shutdown-timeout', 'soon'], '--shutdown-timeout expects seconds'],
    [['--log-level', 'loud'], 'Allowed choices are fatal, error, warn, info, debug, trace, silent'],
  ])('exits 2 for a bad flag value %j', async (flags, message) => {
    const r = await runCli(['worker', FIXTURE, ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
