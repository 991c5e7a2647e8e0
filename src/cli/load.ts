// Loading a user's module and picking its Millrace app: shared by `millrace worker` and the
// commands that take `--app <module>[:export]`; the errors the CLI reports without a stack.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const MODULE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/** What the CLI needs of an app. Duck-typed: the user's module may load its own copy of millrace. */
export interface AppLike {
  readonly kind: 'millrace';
  readonly log: { level: string; error(obj: object, msg: string): void };
  queue(...args: unknown[]): unknown;
  worker(options: Record<string, unknown>): { run(): Promise<void>; readonly id: string };
  close(): Promise<void>;
}

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure to report without a stack: the message says what was wrong; exit code 1 by default. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A bad setting or option: a usage error. Checked by name, as a user's module may bring its own copy of millrace. */
export function isConfigError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ConfigError';
}

/**
 * Imports the user's module. A ConfigError as it loads (a bad option in its code, or a bad
 * variable read as it defines its queues) is a usage error; any other failure shows its stack.
 */
export async function importModule(path: string, file: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    if (isConfigError(err)) throw new UsageError(err.message);
    throw new CliError(`could not load module '${file}': ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
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
