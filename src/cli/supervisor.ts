// `millrace worker --workers N` / `--reload`: runs worker processes (the same CLI, without those
// flags) under a supervisor that restarts crashed ones with backoff, forwards SIGTERM/SIGINT,
// restarts them all when watched files change, and exits once they have all stopped.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync, unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bin/millrace.js, two levels above both src/cli/ and dist/cli/. */
const BIN = fileURLToPath(new URL('../../bin/millrace.js', import.meta.url));

/** Set in the children's environment: a supervised worker never supervises in turn. */
export const SUPERVISED_ENV = 'MILLRACE_SUPERVISED';

/** A child exiting with this code has a usage error (bad module, flag, queue): restarting would not help. */
const USAGE_ERROR = 2;

export interface SupervisorOptions {
  /** Number of worker processes. */
  workers: number;
  /** CLI arguments of each child, e.g. ['worker', 'app.ts:app', '--queue', 'q']. */
  args: string[];
  /** Restart every child when files under `dir` change. */
  reload?: { dir: string; polling: boolean; pollMs: number };
  /** Restart delay after a crash: base * 2^(recent crashes - 1), at most max (ms). */
  backoff?: { baseMs: number; maxMs: number };
  /** Give up when one child crashes `count` times within `windowMs`. */
  crashLimit?: { count: number; windowMs: number };
  /** Supervisor messages (stderr by default). */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** The children's stdout and stderr: shared with the supervisor (default), or dropped. */
  output?: 'inherit' | 'ignore';
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  /** Epoch ms of recent crashes. */
  crashes: number[];
  restartTimer: NodeJS.Timeout | undefined;
  /** Exited 0 by itself (burst done, or stopped directly): not restarted. */
  done: boolean;
  /** Being restarted for a reload: its exit starts it again at once. */
  reloading: boolean;
  /** Gave up on it in reload mode: it starts again on the next file change. */
  parked: boolean;
}

/** Runs the supervisor until every child has stopped; resolves with the exit code. */
export function supervise(options: SupervisorOptions): Promise<number> {
  const log = options.log ?? ((line: string) => process.stderr.write(`millrace supervisor: ${line}\n`));
  const backoff = options.backoff ?? { baseMs: 500, maxMs: 30_000 };
  const limit = options.crashLimit ?? { count: 5, windowMs: 60_000 };
  const env = { ...(options.env ?? process.env), [SUPERVISED_ENV]: '1' };
  const slots: Slot[] = Array.from({ length: options.workers }, (_, index) => ({
    index, child: undefined, crashes: [], restartTimer: undefined, done: false, reloading: false, parked: false,
  }));
  let stopping = false;
  let exitCode = 0;
  let stopWatching: (() => void) | undefined;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const alive = () => slots.filter((s) => s.child !== undefined);

  const start = (slot: Slot) => {
    slot.restartTimer = undefined;
    slot.done = false;
    slot.parked = false;
    // Own process group: a terminal's Ctrl-C reaches the supervisor only, which forwards it
    // once (a second SIGINT would make the children abort their running jobs).
    const child = spawn(process.execPath, [BIN, ...options.args], {
      stdio: ['ignore', options.output ?? 'inherit', options.output ?? 'inherit', 'ipc'],
      detached: true,
      env: { ...env, MILLRACE_WORKER_INDEX: String(slot.index) },
    });
    slot.child = child;
    child.on('error', (err) => log(`worker ${slot.index}: ${err.message}`));
    child.on('exit', (code, signal) => onExit(slot, child, code, signal));
    log(`worker ${slot.index} started (pid ${child.pid})`);
  };

  const settleIfAllStopped = () => {
    if (alive().length > 0) return;
    if (stopping) return finishAll(exitCode);
    // Everything ended by itself (burst mode): done, unless a file change may restart them.
    if (!options.reload && slots.every((s) => s.done)) finishAll(0);
  };

  const finishAll = (code: number) => {
    stopWatching?.();
    for (const [sig, fn] of handlers) process.off(sig, fn);
    finish(code);
  };

  const onExit = (slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null) => {
    if (slot.child !== child) return;
    slot.child = undefined;
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    if (stopping) {
      if (code !== 0) exitCode = 1;
      log(`worker ${slot.index} (pid ${child.pid}) ${how}`);
      return settleIfAllStopped();
    }
    if (slot.reloading) {
      slot.reloading = false;
      return start(slot);
    }
    if (code === 0) {
      log(`worker ${slot.index} (pid ${child.pid}) finished`);
      slot.done = true;
      return settleIfAllStopped();
    }
    if (code === USAGE_ERROR) {
      log(`worker ${slot.index} exited with a usage error (see above); not restarting it`);
      if (options.reload) {
        slot.parked = true;
        return log('waiting for a file change');
      }
      exitCode = USAGE_ERROR;
      return stopAll('SIGTERM');
    }
    const now = Date.now();
    slot.crashes = [...slot.crashes.filter((t) => now - t < limit.windowMs), now];
    if (slot.crashes.length >= limit.count) {
      const message = `worker ${slot.index} crashed ${slot.crashes.length} times within ${Math.round(limit.windowMs / 1000)} s (last: ${how}); giving up`;
      if (options.reload) {
        slot.parked = true;
        slot.crashes = [];
        return log(`${message} until a file changes`);
      }
      log(`${message}: stopping the other workers`);
      exitCode = 1;
      return stopAll('SIGTERM');
    }
    const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (slot.crashes.length - 1));
    log(`worker ${slot.index} (pid ${child.pid}) ${how}; restarting in ${delay} ms`);
    slot.restartTimer = setTimeout(() => start(slot), delay);
  };

  const stopAll = (signal: NodeJS.Signals) => {
    const first = !stopping;
    stopping = true;
    if (first) stopWatching?.();
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    for (const slot of alive()) slot.child!.kill(signal);
    settleIfAllStopped();
  };

  const reloadAll = (file: string) => {
    if (stopping) return;
    log(`${file} changed; restarting the workers`);
    for (const slot of slots) {
      slot.crashes = [];
      if (slot.child) {
        slot.reloading = true;
        slot.child.kill('SIGTERM');
      } else {
        clearTimeout(slot.restartTimer);
        start(slot);
      }
    }
  };

  const handlers: [NodeJS.Signals, () => void][] = (['SIGTERM', 'SIGINT'] as const).map((sig) => [sig, () => {
    log(`${sig} received; stopping the workers`);
    stopAll(sig);
  }]);
  for (const [sig, fn] of handlers) process.on(sig, fn);

  if (options.reload) {
    let timer: NodeJS.Timeout | undefined;
    const changed: string[] = [];
    // Editors write a file in several steps: one restart per burst of changes.
    const onChange = (file: string) => {
      changed.push(file);
      clearTimeout(timer);
      timer = setTimeout(() => reloadAll([...new Set(changed.splice(0))].join(', ')), 300);
    };
    const { dir, polling, pollMs } = options.reload;
    const stop = polling ? pollTree(dir, pollMs, onChange) : watchTree(dir, onChange);
    stopWatching = () => {
      clearTimeout(timer);
      stop();
    };
    log(`watching ${dir} for changes${polling ? ` (polling every ${pollMs} ms)` : ''}`);
  }

  for (const slot of slots) start(slot);
  return finished;
}

const IGNORED = new Set(['node_modules', '.git', 'dist']);

/** Whether a path (relative to the watched directory) is one a reload ignores. */
export function ignoredPath(rel: string): boolean {
  const parts = rel.split(/[\\/]/);
  const name = parts[parts.length - 1] ?? '';
  return parts.some((p) => IGNORED.has(p)) || name.endsWith('~') || name.endsWith('.swp') || name.startsWith('.#');
}

/** Native recursive watching (inotify on Linux, FSEvents on macOS). */
function watchTree(dir: string, onChange: (file: string) => void): () => void {
  const watcher: FSWatcher = watch(dir, { recursive: true }, (_event, filename) => {
    const rel = filename ? String(filename) : '';
    if (rel && ignoredPath(rel)) return;
    onChange(rel || dir);
  });
  watcher.on('error', () => undefined);
  return () => watcher.close();
}

/**
 * Polling, for bind mounts in containers where file events do not arrive
 * (WATCHFILES_FORCE_POLLING): fs.watchFile on each file, and a rescan for added or removed ones.
 */
function pollTree(dir: string, intervalMs: number, onChange: (file: string) => void): () => void {
  const watched = new Map<string, (cur: { mtimeMs: number }, prev: { mtimeMs: number }) => void>();
  const add = (path: string) => {
    const fn = (cur: { mtimeMs: number }, prev: { mtimeMs: number }) => {
      if (cur.mtimeMs !== prev.mtimeMs) onChange(relative(dir, path));
    };
    watched.set(path, fn);
    watchFile(path, { interval: intervalMs }, fn);
  };
  for (const path of listFiles(dir)) add(path);
  const rescan = setInterval(() => {
    const now = new Set(listFiles(dir));
    for (const path of now) {
      if (!watched.has(path)) {
        add(path);
        onChange(relative(dir, path));
      }
    }
    for (const [path, fn] of watched) {
      if (!now.has(path)) {
        unwatchFile(path, fn);
        watched.delete(path);
        onChange(relative(dir, path));
      }
    }
  }, intervalMs);
  return () => {
    clearInterval(rescan);
    for (const [path, fn] of watched) unwatchFile(path, fn);
    watched.clear();
  };
}

function listFiles(dir: string, root = dir, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (ignoredPath(relative(root, path).split(sep).join('/'))) continue;
    try {
      const st = statSync(path);
      if (st.isDirectory()) listFiles(path, root, out);
      else if (st.isFile()) out.push(path);
    } catch {
      // removed while scanning
    }
  }
  return out;
}

/** Whether WATCHFILES_FORCE_POLLING (or MILLRACE_RELOAD_POLLING) asks for polling. */
export function pollingFromEnv(env: NodeJS.ProcessEnv = process.env): { polling: boolean; pollMs: number } {
  const raw = env.MILLRACE_RELOAD_POLLING ?? env.WATCHFILES_FORCE_POLLING ?? '';
  const delay = Number(env.WATCHFILES_POLL_DELAY_MS ?? '');
  return { polling: /^(1|true|yes|on)$/i.test(raw.trim()), pollMs: Number.isFinite(delay) && delay >= 50 ? delay : 800 };
}
