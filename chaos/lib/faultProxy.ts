// A RESP-aware TCP proxy between ioredis clients and Redis for the chaos suite: it injects the
// faults a job queue must survive (error replies, lost replies, connection resets) into chosen
// commands, from a seeded PRNG so that a failing run can be repeated.

import { createHash } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { scriptSource } from '../../src/redis/scripts.js';
import { ChunkReader, PUSH, readRequest, replyEnd, RespProtocolError, type ProxyCommand } from './resp.js';

export type { ProxyCommand };

/** What the proxy learned about one client connection. */
export interface ProxyConnection {
  readonly id: number;
  /** From CLIENT SETNAME (ioredis' connectionName), e.g. 'millrace:subscriber'. */
  readonly name: string | undefined;
  /** Sent SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE; its bytes pass through unparsed from then on. */
  readonly subscriber: boolean;
  /** Commands seen so far (not counted once the connection passes through unparsed). */
  readonly commands: number;
}

export type Matcher = (cmd: ProxyCommand, conn: ProxyConnection) => boolean;
export type FaultKind = 'error' | 'drop-reply' | 'reset';

interface FaultOptions {
  /** Share of the matching commands hit, 0 to 1. */
  rate: number;
  /** Which commands may be hit; all injectable ones when absent. */
  match?: Matcher;
  /** At most this many hits, then the fault is spent (at rate 1 a dropped INCR would otherwise be dropped again on every resend). */
  times?: number;
  /** Names the fault in stats.byLabel. */
  label?: string;
}

/**
 * - error: the command is not forwarded; the client gets `error` (a line such as ERRORS.OOM) in its place.
 * - drop-reply: the command is forwarded and runs, but its reply is swallowed and the connection reset.
 * - reset: the connection is reset just before the command would be forwarded; it never reaches Redis.
 */
export type Fault = FaultOptions & ({ kind: 'error'; error: string } | { kind: 'drop-reply' } | { kind: 'reset' });

/** Error lines exactly as Redis 7 writes them (without the leading '-'). */
export const ERRORS = {
  READONLY: "READONLY You can't write against a read only replica.",
  LOADING: 'LOADING Redis is loading the dataset in memory',
  OOM: "OOM command not allowed when used memory > 'maxmemory'.",
  BUSY: 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
  NOSCRIPT: 'NOSCRIPT No matching script. Please use EVAL.',
} as const;

const SCRIPT_COMMANDS = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO']);

/** A Lua script or function call (for EVALSHA the sha is args[0]). */
export function isScript(cmd: ProxyCommand): boolean {
  return SCRIPT_COMMANDS.has(cmd.name);
}

/** Matches calls of one of millrace's Lua scripts by name (EVALSHA by its sha, or EVAL of its source). */
export function scriptNamed(...names: string[]): Matcher {
  const shas = new Set(names.map((n) => createHash('sha1').update(scriptSource(n)).digest('hex')));
  return (cmd) => {
    if (!isScript(cmd) || cmd.args.length === 0) return false;
    const first = cmd.args[0]!.toString();
    return cmd.name.startsWith('EVALSHA') ? shas.has(first.toLowerCase()) : shas.has(createHash('sha1').update(first).digest('hex'));
  };
}

/** Matches the commands named (in any case). */
export function commandIn(...names: string[]): Matcher {
  const set = new Set(names.map((n) => n.toUpperCase()));
  return (cmd) => set.has(cmd.name);
}

/** Matches commands on connections whose CLIENT SETNAME name is `name` or matches it. */
export function onConnection(name: string | RegExp): Matcher {
  return (_cmd, conn) => conn.name !== undefined && (typeof name === 'string' ? conn.name === name : name.test(conn.name));
}

export interface ProxyStats {
  /** Connections accepted. */
  connections: number;
  /** Commands parsed from clients. */
  commands: number;
  /** Commands forwarded to Redis (those whose reply was then dropped included). */
  forwarded: number;
  injected: Record<FaultKind, number>;
  /** Injections per command name, e.g. byCommand.SET?.error. */
  byCommand: Record<string, Partial<Record<FaultKind, number>>>;
  /** Injections per labelled fault. */
  byLabel: Record<string, number>;
  /** Commands a labelled fault's matcher accepted (hit or not). */
  seenByLabel: Record<string, number>;
  /** Connections reset by resetConnections() or cut(). */
  resetOnDemand: number;
}

/**
 * Never hit: connection setup and control (a failed HELLO or ready-check INFO makes ioredis give
 * up on the connection instead of retrying), and transaction boundaries.
 */
const PROTECTED = new Set(['AUTH', 'HELLO', 'CLIENT', 'SELECT', 'INFO', 'READONLY', 'READWRITE', 'QUIT', 'RESET', 'ASKING', 'MULTI', 'EXEC', 'DISCARD']);
/** After these, replies are no longer one per command: the connection passes through unparsed. */
const SUBSCRIBE = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE']);
const UNTRACKABLE = new Set([...SUBSCRIBE, 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE', 'MONITOR']);

/** mulberry32: small, fast and good enough to pick faults. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ArmedFault {
  fault: Fault;
  left: number;
  /** The error reply, for kind 'error'. */
  reply?: Buffer;
}

function upper(arg: Buffer | undefined): string | undefined {
  return arg?.toString('latin1').toUpperCase();
}

function errorReply(line: string): Buffer {
  const text = line.replace(/^-/, '').replace(/\r?\n$/, '');
  if (/[\r\n]/.test(text) || !text) throw new Error(`an injected error must be one non-empty line, got ${JSON.stringify(line)}`);
  return Buffer.from(`-${text}\r\n`);
}

export class FaultProxy {
  private server!: Server;
  private readonly links = new Set<Link>();
  private faults: ArmedFault[] = [];
  private cutOff = false;
  private nextId = 1;
  private readonly random: () => number;
  private readonly counts: ProxyStats = {
    connections: 0, commands: 0, forwarded: 0, injected: { error: 0, 'drop-reply': 0, reset: 0 }, byCommand: {}, byLabel: {}, seenByLabel: {}, resetOnDemand: 0,
  };
  port = 0;

  private constructor(
    private readonly targetPort: number,
    /** Seeds the PRNG; log it so a failing run can be repeated with the same faults. */
    readonly seed: number,
  ) {
    this.random = mulberry32(seed);
  }

  static async start(targetPort: number, { seed = Math.floor(Math.random() * 2 ** 32) }: { seed?: number } = {}): Promise<FaultProxy> {
    const proxy = new FaultProxy(targetPort, seed);
    await proxy.listen();
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Replaces the faults; each command is checked against them in order and hit by the first that fires. */
  setFaults(faults: Fault[]): void {
    this.faults = faults.map((fault) => ({
      fault,
      left: fault.times ?? Infinity,
      reply: fault.kind === 'error' ? errorReply(fault.error) : undefined,
    }));
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** A snapshot of the counters. */
  get stats(): ProxyStats {
    return structuredClone(this.counts);
  }

  /** Open client connections. */
  get connections(): ProxyConnection[] {
    return [...this.links].filter((link) => link.open);
  }

  /** Resets the open connections `filter` selects (all by default); returns how many. */
  resetConnections(filter: (conn: ProxyConnection) => boolean = () => true): number {
    const hit = [...this.links].filter((link) => link.open && filter(link));
    for (const link of hit) link.destroy();
    this.counts.resetOnDemand += hit.length;
    return hit.length;
  }

  /** Resets every connection and refuses new ones until restore(), as in a network partition. */
  cut(): void {
    this.cutOff = true;
    this.resetConnections();
    for (const link of this.links) link.destroy(); // also those still flushing a last reply
  }

  restore(): void {
    this.cutOff = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private listen(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        const addr = this.server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : 0;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    if (this.cutOff) {
      client.destroy();
      return;
    }
    this.counts.connections++;
    const link = new Link(this.nextId++, client, connect(this.targetPort, '127.0.0.1'), this.counts, (cmd, conn) => this.pick(cmd, conn));
    this.links.add(link);
    link.onClose = () => this.links.delete(link);
  }

  /** The fault that hits `cmd`, if one fires; counted. */
  private pick(cmd: ProxyCommand, conn: ProxyConnection): ArmedFault | undefined {
    for (const armed of this.faults) {
      const { fault } = armed;
      if (armed.left <= 0 || (fault.match && !fault.match(cmd, conn))) continue;
      if (fault.label) this.counts.seenByLabel[fault.label] = (this.counts.seenByLabel[fault.label] ?? 0) + 1;
      // Drawn only for matching commands, so the same command sequence meets the same faults.
      if (this.random() >= fault.rate) continue;
      armed.left--;
      this.counts.injected[fault.kind]++;
      const perCommand = (this.counts.byCommand[cmd.name] ??= {});
      perCommand[fault.kind] = (perCommand[fault.kind] ?? 0) + 1;
      if (fault.label) this.counts.byLabel[fault.label] = (this.counts.byLabel[fault.label] ?? 0) + 1;
      return armed;
    }
    return undefined;
  }
}

/**
 * What the client gets for each command in flight, in order: the next reply from Redis, that
 * reply swallowed and the connection reset, an injected error, or from there on everything raw.
 */
type Pending = 'relay' | 'drop' | 'raw' | Buffer;

/** One client connection and its own connection to Redis. */
class Link implements ProxyConnection {
  name: string | undefined;
  subscriber = false;
  commands = 0;
  onClose: () => void = () => undefined;
  private inMulti = false;
  private rawRequests = false;
  private rawReplies = false;
  private closed = false;
  private readonly requests = new ChunkReader();
  private readonly replies = new ChunkReader();
  /** In order; those before `settled` are done (not shifted off one by one: a pipeline may keep thousands in flight). */
  private readonly pending: Pending[] = [];
  private settled = 0;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly counts: ProxyStats,
    private readonly pick: (cmd: ProxyCommand, conn: ProxyConnection) => ArmedFault | undefined,
  ) {
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.setNoDelay(true); // replies are written in pieces around injected errors
      from.on('error', () => undefined); // a reset is what this proxy is for
      from.on('drain', () => to.resume());
    }
    client.on('close', () => {
      this.teardown();
      this.onClose();
    });
    upstream.on('close', () => this.teardown({ flushClient: true })); // e.g. the +OK to a QUIT
    client.on('data', (chunk: Buffer) => this.onRequests(chunk));
    upstream.on('data', (chunk: Buffer) => this.onReplies(chunk));
  }

  get open(): boolean {
    return !this.closed;
  }

  /** Resets both sides at once. */
  destroy(): void {
    this.teardown();
    this.client.destroy();
  }

  private onRequests(chunk: Buffer): void {
    if (this.closed) return;
    if (this.rawRequests) return this.toUpstream(chunk);
    const r = this.requests;
    r.push(chunk);
    let runStart = -1; // forwarded requests not yet written: [runStart, r.off)
    const flush = (): void => {
      if (runStart >= 0) this.toUpstream(r.buf.subarray(runStart, r.off));
      runStart = -1;
    };
    try {
      while (r.ready()) {
        if (runStart < 0) runStart = r.off; // after ready(), which may have joined chunks
        const start = r.off;
        const cmd = readRequest(r);
        if (!cmd) break;
        if (cmd.name === '') continue; // Redis answers an empty request with nothing
        const untrackable = UNTRACKABLE.has(cmd.name) || (cmd.name === 'CLIENT' && upper(cmd.args[0]) === 'REPLY');
        const armed = this.observe(cmd) && !untrackable ? this.pick(cmd, this) : undefined;
        if (untrackable) {
          this.counts.forwarded++;
          flush();
          return this.passThrough();
        }
        if (armed?.fault.kind === 'reset') return this.teardown(); // the batch's earlier requests are lost too
        if (armed?.reply) {
          this.toUpstream(r.buf.subarray(runStart, start));
          runStart = r.off;
          this.pending.push(armed.reply);
          continue;
        }
        this.counts.forwarded++;
        this.pending.push(armed ? 'drop' : 'relay');
      }
      flush();
    } catch (err) {
      if (!(err instanceof RespProtocolError)) throw err;
      flush(); // not RESP after all: forward it as is and let Redis answer it
      return this.passThrough();
    }
    this.pump(); // injected errors at the head of the queue need no reply from Redis
  }

  /** From now on requests are forwarded unparsed; so are replies once those queued before are out. */
  private passThrough(): void {
    this.pending.push('raw');
    this.rawRequests = true;
    this.toUpstream(this.requests.takeRest());
    this.pump();
  }

  /** Learns what `cmd` tells about the connection; whether a fault may hit it. */
  private observe(cmd: ProxyCommand): boolean {
    this.commands++;
    this.counts.commands++;
    const { name, args } = cmd;
    if (this.inMulti) {
      // The whole transaction goes through untouched: its commands only answer QUEUED.
      if (name === 'EXEC' || name === 'DISCARD') this.inMulti = false;
      return false;
    }
    if (name === 'MULTI') this.inMulti = true;
    else if (SUBSCRIBE.has(name)) this.subscriber = true;
    else if (name === 'CLIENT' && upper(args[0]) === 'SETNAME') this.name = args[1]?.toString();
    else if (name === 'HELLO') {
      const i = args.findIndex((a) => upper(a) === 'SETNAME');
      if (i >= 0 && args[i + 1]) this.name = args[i + 1]!.toString();
    }
    return !PROTECTED.has(name);
  }

  private onReplies(chunk: Buffer): void {
    if (this.closed) return;
    if (this.rawReplies) return this.toClient(chunk);
    this.replies.push(chunk);
    this.pump();
  }

  /** Relays the whole replies buffered, in the order of `pending`, with injected errors in their place. */
  private pump(): void {
    const r = this.replies;
    let runStart = -1; // relayed replies not yet written: [runStart, r.off)
    const flush = (): void => {
      if (runStart >= 0 && r.off > runStart) this.toClient(r.buf.subarray(runStart, r.off));
      runStart = -1;
    };
    try {
      for (;;) {
        const head = this.pending[this.settled];
        if (head instanceof Buffer) {
          flush();
          this.toClient(head);
          this.settle();
          continue;
        }
        if (head === 'raw') {
          flush();
          this.rawReplies = true;
          return this.toClient(r.takeRest());
        }
        if (!r.ready()) break;
        if (runStart < 0) runStart = r.off;
        const end = replyEnd(r);
        if (end < 0) break;
        // Push frames (RESP3 invalidations) answer no command; nor does anything when none is in flight.
        const answers = r.buf[r.off] !== PUSH && head !== undefined;
        if (answers && head === 'drop') {
          flush();
          r.off = end;
          return this.teardown({ flushClient: true });
        }
        r.off = end;
        if (answers) this.settle();
      }
    } catch (err) {
      if (!(err instanceof RespProtocolError)) throw err;
      this.rawReplies = true;
      flush();
      return this.toClient(r.takeRest());
    }
    flush();
  }

  /** The command at the head of `pending` is answered. */
  private settle(): void {
    if (++this.settled < this.pending.length && this.settled < 4096) return;
    this.pending.splice(0, this.settled);
    this.settled = 0;
  }

  private toUpstream(bytes: Buffer): void {
    if (bytes.length && !this.upstream.write(bytes)) this.client.pause();
  }

  private toClient(bytes: Buffer): void {
    if (bytes.length && !this.client.write(bytes)) this.upstream.pause();
  }

  /** Closes both sides; with `flushClient` the replies written to the client still reach it first. */
  private teardown({ flushClient = false } = {}): void {
    if (this.closed) return;
    this.closed = true;
    this.upstream.destroy();
    if (flushClient) this.client.end(() => this.client.destroy());
    else this.client.destroy();
  }
}
