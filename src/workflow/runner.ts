// Runs workflows over ordinary jobs. Starting one writes its record, then enqueues its first
// stage; a node's job carries its place ([workflow, stage, node], signed with its options) and
// the worker settles it in the workflow before recording the job's own outcome, so a crash in
// between runs the node again and settles it again, which counts once (src/redis/lua/wfstep.lua).
// The stage that completes a stage enqueues the next one with deterministic ids
// ("<workflow>:<stage>:<node>"), then marks it started: enqueued twice it is there once.

import { randomUUID } from 'node:crypto';
import type { Broker, NodeNote } from '../broker/types.js';
import type { FailurePolicy, NodeRecord, StageMode, StepAnswer, StoredWorkflow, WorkflowState } from '../broker/workflows.js';
import type { Client } from '../client.js';
import { parseDuration } from '../duration.js';
import { ConfigError, JobNotFoundError, MillraceError, ResultTimeoutError, throwFirst } from '../errors.js';
import type { Serializer } from '../serializer.js';
import type { JobStatus } from '../types.js';
import { compile, unwire, type Flow, type GroupResults, type JobRef, type Settled, type StageNodes } from './definition.js';
import { fromRecord, settlesOf, type Settle } from './notes.js';
import { decodeResult } from '../results.js';

/** Where a node's job stands in its workflow: [workflow id, stage, node], carried in its header. */
export type NodePlace = readonly [string, number, number];

export interface StartOptions {
  /** The workflow's id (default a random one): starting an id that exists resumes it, never adds a second. */
  id?: string;
  /** How long its record is kept after it ends (default '7d'). */
  keep?: number | string;
}

/** A node's job as the status shows it. */
export interface NodeStatus {
  stage: number;
  node: number;
  id: string;
  queue: string;
  task: string;
  status: JobStatus;
  /** Why it failed, for a failed node its workflow waits on. */
  reason?: string;
}

export interface StageStatus {
  stage: number;
  size: number;
  settled: number;
  policy: string;
  /** done; the current stage's: running, failed (waiting on a replay) or aborted; waiting: not started. */
  state: 'done' | 'running' | 'failed' | 'aborted' | 'waiting';
}

export interface WorkflowStatus {
  id: string;
  state: WorkflowState;
  /** Why it failed or was aborted; for a running one, what it waits on. */
  reason: string;
  createdAt: number;
  endedAt?: number;
  stage: number;
  stages: StageStatus[];
  /** Nodes of the current stage not settled yet (the first 20) and failed nodes it waits on a replay of. */
  waitingOn: NodeStatus[];
}

/** The workflow failed: a node failed under the policy 'fail' (replaying it from the DLQ resumes the workflow). */
export class WorkflowFailedError extends MillraceError {
  constructor(readonly workflowId: string, readonly reason: string) {
    super(`workflow ${workflowId} failed: ${reason}`);
  }
}

export class WorkflowAbortedError extends MillraceError {
  constructor(readonly workflowId: string, readonly reason: string) {
    super(`workflow ${workflowId} was aborted${reason ? `: ${reason}` : ''}`);
  }
}

export class WorkflowNotFoundError extends MillraceError {
  constructor(readonly workflowId: string) {
    super(`workflow ${workflowId} not found (never started, or its record expired)`);
  }
}

const ID = /^[A-Za-z0-9_.:-]{1,100}$/;
/** Nodes enqueued per call when a stage starts. */
const CHUNK = 1000;
const WAITING_SHOWN = 20;
/** Enqueue calls of a stage in flight at once. */
const IN_FLIGHT = 4;

export interface WorkflowsDeps {
  broker: Broker;
  client: Client;
  serializer: Serializer;
}

export class Workflows {
  constructor(private readonly d: WorkflowsDeps) {}

  private get store(): Broker['workflows'] {
    return this.d.broker.workflows;
  }

  async start<R>(flow: Flow<R>, options: StartOptions = {}): Promise<WorkflowHandle<R>> {
    const id = options.id ?? `wf-${randomUUID()}`;
    if (typeof id !== 'string' || !ID.test(id)) throw new ConfigError('workflow id', "1-100 letters, digits, '_', '.', ':' or '-'", id);
    const keep = Math.ceil(parseDuration(options.keep ?? '7d', 'workflow keep') / 1000);
    const { stages, first, external } = compile(flow as Flow<unknown>, this.d.serializer);
    // Jobs to wait on must exist (or have ended with a kept record): else nothing would ever settle them.
    const missing = (await Promise.all(external.map(async (j) => ((await this.d.client.status(j.queue, j.id)) === 'unknown' ? j : undefined)))).find(Boolean);
    if (missing) throw new JobNotFoundError(missing.id, missing.queue);
    const created = await this.store.create(id, stages, Math.max(1, keep));
    // An id that exists: resumed if its first stage was never enqueued (a start that crashed), else left as it is.
    if (created || (await this.store.read(id))?.started === -1) {
      if (external.length > 0) await this.watch(id, external);
      else await this.enqueueStage(id, 0, first.map((n, i) => ({ ...n, node: i })));
      await this.store.started(id, 0);
    }
    return new WorkflowHandle<R>(this, id);
  }

  /**
   * Watches the jobs an after(...) stage waits on, each in its queue's slot: one that ended is
   * settled now from its record; the ending of one still running is noted by the script that
   * ends it (lib.lua: wf_watched), for a recoverer to settle.
   */
  private async watch(id: string, jobs: JobRef[]): Promise<void> {
    for (let i = 0; i < jobs.length; i += 100) {
      await Promise.all(jobs.slice(i, i + 100).map(async (job, j) => {
        const place = [id, 0, i + j] as const;
        const record = await this.d.broker.watchJob(await this.d.client.ref(job.queue), job.id, place);
        if (record !== null) await this.apply(fromRecord(place, job.id, decodeResult(record)));
      }));
    }
  }

  private apply(s: Settle): Promise<StepAnswer['kind']> {
    return this.settleNode(s.place, s.outcome, s.value, s.reason);
  }

  /** Settles what the broker noted (NodeSettler: the recoverer calls it); answers the notes done with. */
  async settleNotes(notes: NodeNote[]): Promise<NodeNote[]> {
    const done: NodeNote[] = [];
    for (const note of notes) {
      let settles: Settle[];
      try {
        settles = settlesOf(note);
      } catch {
        done.push(note); // unreadable (tampered): nothing to settle; dropped
        continue;
      }
      try {
        for (const s of settles) await this.apply(s);
        done.push(note);
      } catch {
        // Kept for the next round (settling again is harmless).
      }
    }
    return done;
  }

  handle<R = unknown>(id: string): WorkflowHandle<R> {
    return new WorkflowHandle<R>(this, id);
  }

  /**
   * Settles a node's job in its workflow (the worker, before it records the job's outcome), and
   * starts the next stage when this completed the current one. 'fail' carries the error JSON.
   */
  async settleNode(place: NodePlace, outcome: 'ok' | 'fail', value: string | Buffer, reason = ''): Promise<StepAnswer['kind']> {
    const [id, stage, node] = place;
    const answer = await this.store.settle(id, stage, node, outcome, value, reason);
    if (answer.kind === 'start') {
      await this.startStage(id, answer.stage, answer.nodes);
      await this.store.started(id, answer.stage);
    }
    return answer.kind;
  }

  private async startStage(id: string, stage: number, nodesJson: string): Promise<void> {
    const nodes = JSON.parse(nodesJson) as StageNodes;
    const r = nodes.r!;
    const received = await this.stageOutcome(id, stage - 1, r);
    const size = nodes.a?.length ?? 0;
    const jobs = Array.from({ length: size }, (_, i) => {
      const bound = this.d.serializer.decode(unwire(nodes.a![i]!)) as unknown[];
      return { queue: pick(nodes.q, i), task: pick(nodes.t, i), args: [received, ...bound], node: i };
    });
    await this.enqueueStage(id, stage, jobs);
  }

  /**
   * A settled stage's outcome as the next stage (or the workflow's result) receives it, by the
   * stage's mode and failure policy: one value, every value in node order (Settled ones under
   * 'continue', failed ones left out under 'ignore'), or a GroupResults to read in pages.
   */
  private async stageOutcome(id: string, stage: number, s: { mode: StageMode; policy: FailurePolicy; size: number }): Promise<unknown> {
    if (s.mode === 'paged') return { workflow: id, stage, size: s.size } satisfies GroupResults<unknown>;
    const values: unknown[] = [];
    (await this.stageRecords(id, stage, s.size)).forEach((rec, i) => {
      const v = this.decodeRecord(rec, `${id}:${stage}:${i}`);
      if (v !== SKIP) values.push(s.policy === 'continue' ? v : (v as { value: unknown }).value);
    });
    return s.mode === 'one' ? values[0] : values;
  }

  /** A node record as a Settled value, or SKIP for one left out (policy 'ignore') or missing. */
  private decodeRecord(rec: NodeRecord | null, nodeId: string): Settled<unknown> | typeof SKIP {
    if (rec === null) return SKIP;
    const tag = typeof rec === 'string' ? rec[0] : String.fromCharCode(rec[0]!);
    const body = typeof rec === 'string' ? rec.slice(1) : rec.subarray(1);
    if (tag === 'v') return { status: 'completed', value: this.d.serializer.decode(body) };
    if (tag === 'e') return { status: 'failed', error: { ...(JSON.parse(String(body)) as { name: string; message: string; reason?: string }), id: nodeId } };
    return SKIP;
  }

  /** A settled stage's node records, in node order, read in pages of CHUNK (its records no longer change). */
  private async stageRecords(id: string, stage: number, size: number): Promise<(NodeRecord | null)[]> {
    const out: (NodeRecord | null)[] = [];
    for (let offset = 0; offset < size; offset += CHUNK) out.push(...(await this.store.results(id, stage, offset, Math.min(CHUNK, size - offset))));
    return out;
  }

  /** Enqueues a stage's nodes in calls of CHUNK, a few in flight at once (the client's work and Redis' overlap). */
  private async enqueueStage(id: string, stage: number, nodes: { queue: string; task: string; args: unknown[]; node: number }[]): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let i = next; i < nodes.length; i = next) {
        next += CHUNK;
        await this.d.client.enqueueNodes(nodes.slice(i, i + CHUNK).map((n) => ({
          queue: n.queue, task: n.task, args: n.args, options: { id: `${id}:${stage}:${n.node}` }, workflow: [id, stage, n.node] as const,
        })));
      }
    };
    throwFirst(await Promise.allSettled(Array.from({ length: Math.min(IN_FLIGHT, Math.ceil(nodes.length / CHUNK)) }, lane)));
  }

  async read(id: string): Promise<StoredWorkflow> {
    const wf = await this.store.read(id);
    if (!wf) throw new WorkflowNotFoundError(id);
    return wf;
  }

  async status(id: string): Promise<WorkflowStatus> {
    const wf = await this.read(id);
    const stages: StageStatus[] = wf.stages.map((s, k) => ({
      stage: k, size: s.size, settled: wf.settled[k] ?? 0, policy: s.policy,
      state: k < wf.stage || (k === wf.stage && wf.state === 'completed') ? 'done' : k === wf.stage ? (wf.state as 'running' | 'failed' | 'aborted') : 'waiting',
    }));
    const waitingOn = wf.state === 'running' || wf.state === 'failed' ? await this.waitingOn(id, wf) : [];
    let reason = wf.reason;
    if (wf.state === 'running') {
      const s = stages[wf.stage]!;
      reason = wf.started < wf.stage
        ? `stage ${wf.stage} not enqueued yet`
        : `stage ${wf.stage}: ${s.size - s.settled} of ${s.size} nodes pending${describeWaiting(waitingOn)}`;
    }
    return { id, state: wf.state, reason, createdAt: wf.createdAt, endedAt: wf.endedAt, stage: wf.stage, stages, waitingOn };
  }

  /** The current stage's failed nodes and its first unsettled ones, each with its job's status. */
  private async waitingOn(id: string, wf: StoredWorkflow): Promise<NodeStatus[]> {
    if (wf.started < wf.stage) return [];
    const stored = wf.stages[wf.stage]!;
    const nodes = JSON.parse(stored.nodes) as StageNodes;
    const picked: { node: number; reason?: string }[] = Object.entries(wf.failed).map(([node, reason]) => ({ node: Number(node), reason }));
    // Unsettled nodes, found in pages of the stage's records (a bounded read: the first 10,000 nodes).
    for (let offset = 0; offset < Math.min(stored.size, 10 * CHUNK) && picked.length < WAITING_SHOWN; offset += CHUNK) {
      const page = await this.store.results(id, wf.stage, offset, Math.min(CHUNK, stored.size - offset));
      page.forEach((rec, i) => {
        if (rec === null && picked.length < WAITING_SHOWN && wf.failed[offset + i] === undefined) picked.push({ node: offset + i });
      });
    }
    return Promise.all(picked.map(async ({ node, reason }) => {
      const queue = pick(nodes.q, node);
      const jobId = nodeId(id, wf.stage, nodes, node);
      const status = await this.d.client.status(queue, jobId);
      return { stage: wf.stage, node, id: jobId, queue, task: pick(nodes.t, node), status, ...(reason ? { reason } : {}) };
    }));
  }

  /** Aborts a workflow: no stage starts after this, and the current stage's jobs are aborted. False when it had ended (or is gone). */
  async abort(id: string, reason = 'aborted on request'): Promise<boolean> {
    const at = await this.store.abort(id, reason);
    if (!at) return false;
    const wf = await this.store.read(id);
    const nodes = wf ? (JSON.parse(wf.stages[at.stage]!.nodes) as StageNodes) : undefined;
    // The jobs an after(...) stage waits on are not the workflow's: left alone.
    if (!nodes || nodes.x) return true;
    for (let i = 0; i < at.size; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, at.size - i) }, (_, j) => this.d.client.abort(pick(nodes.q, i + j), `${id}:${at.stage}:${i + j}`)));
    }
    return true;
  }

  /** A page of a stage's outcomes (a paged group's results), in node order; a node not settled yet is left out. */
  async results(ref: GroupResults<unknown> | { workflow: string; stage: number }, options: { offset?: number; limit?: number } = {}): Promise<Settled<unknown>[]> {
    const offset = options.offset ?? 0;
    const limit = Math.min(options.limit ?? CHUNK, 10 * CHUNK);
    const page = await this.store.results(ref.workflow, ref.stage, offset, limit);
    return page.map((rec, i) => this.decodeRecord(rec, `${ref.workflow}:${ref.stage}:${offset + i}`)).filter((v): v is Settled<unknown> => v !== SKIP);
  }

  /**
   * Waits for the workflow to end: its last stage's outcome, or a WorkflowFailedError /
   * WorkflowAbortedError. No polling: woken by the notice of its end (or of a lost notice), it
   * reads the record again; a failed workflow whose failed nodes were replayed is waited on.
   */
  async result(id: string, timeoutMs: number): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    let wake: () => void = () => undefined;
    // Subscribed before the first read: an end announced in between is not missed.
    const off = await this.store.onEnd(id, () => wake());
    try {
      for (;;) {
        const noticed = new Promise<void>((resolve) => (wake = resolve));
        const wf = await this.read(id);
        if (wf.state === 'completed') return await this.stageOutcome(id, wf.stages.length - 1, wf.stages.at(-1)!);
        const replayed = wf.state === 'failed' && (await this.replayed(id, wf));
        if (wf.state === 'failed' && !replayed) throw new WorkflowFailedError(id, wf.reason);
        if (wf.state === 'aborted') throw new WorkflowAbortedError(id, wf.reason);
        const left = deadline - Date.now();
        if (left <= 0) throw new ResultTimeoutError(id, timeoutMs, 'workflow');
        let timer: NodeJS.Timeout | undefined;
        // A replayed node's workflow goes from failed to running without a notice: it is read again each second meanwhile.
        await Promise.race([noticed, new Promise<void>((resolve) => (timer = setTimeout(resolve, replayed ? Math.min(left, 1000) : left)))]);
        clearTimeout(timer);
      }
    } finally {
      await off();
    }
  }

  /** Whether a failed node of the workflow runs again (replayed from the dead-letter queue), or ran and waits to be settled. */
  private async replayed(id: string, wf: StoredWorkflow): Promise<boolean> {
    const nodes = JSON.parse(wf.stages[wf.stage]!.nodes) as StageNodes;
    const statuses = await Promise.all(Object.keys(wf.failed).map((n) => this.d.client.status(pick(nodes.q, Number(n)), nodeId(id, wf.stage, nodes, Number(n)))));
    // Completed too: a job after(...) waits on is settled from the note its ending left, a moment later.
    return statuses.some((s) => s === 'waiting' || s === 'active' || s === 'delayed' || s === 'completed');
  }


}

const SKIP = Symbol('skip');

function pick(v: string | string[], i: number): string {
  return typeof v === 'string' ? v : v[i]!;
}

/** A node's job id: the waited-on job's own for an after(...) stage, else "<workflow>:<stage>:<node>". */
function nodeId(id: string, stage: number, nodes: StageNodes, node: number): string {
  return nodes.x ? nodes.x[node]! : `${id}:${stage}:${node}`;
}

function describeWaiting(nodes: NodeStatus[]): string {
  if (nodes.length === 0) return '';
  const failed = nodes.filter((n) => n.reason);
  const parts = failed.slice(0, 3).map((n) => `node ${n.node} failed (${n.reason})`);
  // Jobs ended where no worker settled them in the workflow (a poison job dead-lettered by a
  // reclaim, a job aborted by its own id): the workflow waits on them, and says so.
  const ended = (status: JobStatus) => nodes.filter((n) => !n.reason && n.status === status).map((n) => n.node).slice(0, 5).join(', ');
  if (ended('failed')) parts.push(`node ${ended('failed')} in the dead-letter queue (a replay resumes the workflow)`);
  if (ended('aborted')) parts.push(`node ${ended('aborted')} aborted by its job id (abort the workflow to end it)`);
  return parts.length > 0 ? `; ${parts.join('; ')}` : '';
}

/** A started workflow, by id, from any process. */
export class WorkflowHandle<R> {
  constructor(private readonly workflows: Workflows, readonly id: string) {}

  status(): Promise<WorkflowStatus> {
    return this.workflows.status(this.id);
  }

  /** The last stage's outcome once the workflow completed (`timeout` ms or a duration, default 30 s). */
  async result(timeout: number | string = 30_000): Promise<R> {
    return (await this.workflows.result(this.id, parseDuration(timeout, 'workflow result timeout'))) as R;
  }

  abort(reason?: string): Promise<boolean> {
    return this.workflows.abort(this.id, reason);
  }
}
