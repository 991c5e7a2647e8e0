// Workflows as the user writes them, checked at compile time: a Signature is a task with some
// of its arguments bound (`resize.s(path)`; after the first step, every argument but the first,
// which the previous step's outcome fills: `upload.s()`), a group runs signatures in parallel,
// and a chain runs stages one after the other, each receiving what the one before gave.
// `compile` turns a flow into the stages the store keeps (src/broker/workflows.ts).

import { ConfigError } from '../errors.js';
import type { FailurePolicy, StageMode, StoredStage } from '../broker/workflows.js';
import type { AnyTask } from '../registry.js';
import type { Job } from '../job.js';
import type { Serializer } from '../serializer.js';
import type { StartOptions, WorkflowHandle } from './runner.js';

declare const STAGE: unique symbol;

/** What a stage receives (I) and gives (O), for the compiler only. */
export interface StageOf<I, O> {
  readonly [STAGE]?: { in: (input: I) => void; out: O };
}

/** A failed node under `onFailure('continue')`: what its next stage receives in its place. */
export type Settled<R> = { status: 'completed'; value: R } | { status: 'failed'; error: { name: string; message: string; reason?: string; id: string } };

/**
 * A group's outcome read in pages (`group(...).paged()`): the callback receives this instead of
 * every value at once, and reads them with `app.workflowResults(ref)`.
 */
export interface GroupResults<R> {
  readonly workflow: string;
  readonly stage: number;
  readonly size: number;
  /** For the compiler only. */
  readonly __values?: R;
}

/** One node: a task and its bound arguments. */
export class Signature<I, O> implements StageOf<I, O> {
  declare readonly [STAGE]?: { in: (input: I) => void; out: O };
  constructor(
    readonly task: AnyTask,
    readonly args: readonly unknown[],
    readonly policy: FailurePolicy = 'fail',
  ) {}

  /**
   * What a failure of this node does: 'fail' (the default) ends the workflow failed with its
   * error; 'continue' passes it on as a Settled value; 'ignore' passes nothing (undefined) on.
   */
  onFailure(policy: 'continue'): Signature<I, Settled<O>>;
  onFailure(policy: 'ignore'): Signature<I, O | undefined>;
  onFailure(policy: 'fail'): Signature<I, O>;
  onFailure(policy: FailurePolicy): Signature<I, unknown> {
    return new Signature(this.task, this.args, checkPolicy(policy));
  }
}

type InOf<S> = S extends StageOf<infer I, unknown> ? I : never;
type OutOf<S> = S extends StageOf<never, infer O> ? O : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnySignature = Signature<any, any>;

/** Nodes that run in parallel, every one receiving the same input; gives their outcomes in order. */
export class Group<I, O> implements StageOf<I, O> {
  declare readonly [STAGE]?: { in: (input: I) => void; out: O };
  constructor(
    readonly members: readonly AnySignature[],
    readonly policy: FailurePolicy = 'fail',
    readonly mode: 'all' | 'paged' = 'all',
  ) {}

  /** What a member's failure does: 'fail' (the default) ends the workflow; 'continue' passes Settled values on; 'ignore' leaves failed members out. */
  onFailure(policy: 'continue'): Group<I, Settled<ElementOf<O>>[]>;
  onFailure(policy: 'ignore'): Group<I, ElementOf<O>[]>;
  onFailure(policy: 'fail'): Group<I, O>;
  onFailure(policy: FailurePolicy): Group<I, unknown> {
    return new Group(this.members, checkPolicy(policy), this.mode);
  }

  /** The next stage receives a GroupResults to read the outcomes in pages, not every value at once (large groups). */
  paged(): Group<I, GroupResults<ElementOf<O>>> {
    return new Group(this.members, this.policy, 'paged');
  }
}

type ElementOf<O> = O extends readonly (infer E)[] ? E : never;

/** An existing job by queue and id: a `Job<R>` handle, or `{ queue, id }` from anywhere. */
export interface JobRef<R = unknown> {
  readonly queue: string;
  readonly id: string;
  /** For the compiler only (a Job<R> gives R). */
  readonly __result?: R;
}
type ResultOf<J> = J extends Job<infer R> ? R : J extends JobRef<infer R> ? R : unknown;

/**
 * A first stage of jobs that exist already (`dependsOn`): the next stage starts once they all
 * ended, receiving their results in order, as after a group. Their results must be kept
 * (`resultTtl` not 'none'): a job that ended without a record is not told from one never enqueued.
 */
export class After<O> implements StageOf<void, O> {
  declare readonly [STAGE]?: { in: (input: void) => void; out: O };
  constructor(
    readonly jobs: readonly JobRef[],
    readonly policy: FailurePolicy = 'fail',
    readonly mode: 'all' | 'paged' = 'all',
  ) {}

  onFailure(policy: 'continue'): After<Settled<ElementOf<O>>[]>;
  onFailure(policy: 'ignore'): After<ElementOf<O>[]>;
  onFailure(policy: 'fail'): After<O>;
  onFailure(policy: FailurePolicy): After<unknown> {
    return new After(this.jobs, checkPolicy(policy), this.mode);
  }

  paged(): After<GroupResults<ElementOf<O>>> {
    return new After(this.jobs, this.policy, 'paged');
  }
}

/** Waits on existing jobs: `chain(after(resizeJob, scanJob), report.s())`; `after(list)` for many. */
export function after<J extends readonly JobRef[]>(jobs: J): After<{ -readonly [K in keyof J]: ResultOf<J[K]> }>;
export function after<J extends JobRef[]>(...jobs: J): After<{ [K in keyof J]: ResultOf<J[K]> }>;
export function after(...jobs: unknown[]): After<unknown> {
  const list = (jobs.length === 1 && Array.isArray(jobs[0]) ? jobs[0] : jobs) as unknown[];
  if (list.length === 0) throw new ConfigError('after', 'one job or more (a Job, or { queue, id })', list);
  list.forEach((j, i) => {
    const ref = j as Partial<JobRef> | null;
    if (typeof ref !== 'object' || ref === null || typeof ref.queue !== 'string' || typeof ref.id !== 'string' || ref.id === '') {
      throw new ConfigError(`after job ${i}`, 'a Job, or { queue, id }', j);
    }
  });
  return new After((list as JobRef[]).map((j) => ({ queue: j.queue, id: j.id })));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStage = Signature<any, any> | Group<any, any> | After<any>;

/** Runs signatures in parallel: `group(a.s(1), b.s(2))`, or `group(list)` for many (no spread of 100,000 arguments). */
export function group<S extends readonly AnySignature[]>(members: S): Group<InOf<S[number]>, { -readonly [K in keyof S]: OutOf<S[K]> }>;
export function group<S extends AnySignature[]>(...members: S): Group<InOf<S[number]>, { [K in keyof S]: OutOf<S[K]> }>;
export function group(...members: unknown[]): Group<unknown, unknown> {
  const list = (members.length === 1 && Array.isArray(members[0]) ? members[0] : members) as unknown[];
  if (list.length === 0) throw new ConfigError('group', 'one signature or more (task.s(...))', list);
  list.forEach((m, i) => {
    if (!(m instanceof Signature)) throw new ConfigError(`group member ${i}`, 'a signature (task.s(...))', m);
  });
  return new Group(list as AnySignature[]);
}

/** Each stage must take what the one before gives; the first takes nothing. */
type Checked<S extends readonly unknown[], Prev> = S extends readonly [infer H, ...infer T]
  ? [[Prev] extends [InOf<H>] ? H : StageOf<Prev, OutOf<H>>, ...Checked<T, OutOf<H>>]
  : [];
type Last<S extends readonly unknown[]> = S extends readonly [...unknown[], infer L] ? L : never;

/** A workflow not started yet; `flow.start()` (or `app.startWorkflow(flow)`) starts it. */
export class Flow<R> {
  declare readonly __result?: R;
  constructor(readonly stages: readonly AnyStage[]) {}

  /** Starts the workflow on the app its first task is bound to. */
  start(options?: StartOptions): Promise<WorkflowHandle<R>> {
    try {
      const head = this.stages[0] instanceof After ? this.stages[1]! : this.stages[0]!;
      return (head instanceof Group ? head.members[0]! : (head as Signature<unknown, unknown>)).task.host.startWorkflow(this, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/** Stages one after the other: `chain(resize.s(path), upload.s(), notify.s())`. */
export function chain<S extends [AnyStage, ...AnyStage[]]>(...stages: S & Checked<S, void>): Flow<OutOf<Last<S>>> {
  checkStages(stages as unknown[]);
  return new Flow(stages);
}

function checkStages(stages: unknown[]): void {
  if (stages.length === 0) throw new ConfigError('chain', 'one stage or more');
  stages.forEach((s, i) => {
    if (!(s instanceof Signature) && !(s instanceof Group) && !(s instanceof After)) throw new ConfigError(`chain stage ${i}`, 'a signature (task.s(...)), a group(...) or after(...)', s);
    if (s instanceof After && i > 0) throw new ConfigError(`chain stage ${i}`, 'after(...) first: it waits on jobs that exist already', 'after(...)');
    if (s instanceof After && stages.length === 1) throw new ConfigError('chain', 'a stage after after(...): what runs once the jobs ended', 'after(...) alone');
  });
}

/** A group and the callback that receives its outcomes, once: `chord(group(...), merge.s())`. */
export function chord<G extends Group<void, unknown>, C extends AnySignature>(
  members: G, callback: C & ([OutOf<G>] extends [InOf<C>] ? unknown : StageOf<OutOf<G>, unknown>),
): Flow<OutOf<C>> {
  checkStages([members, callback]);
  return new Flow([members, callback]);
}

function checkPolicy(policy: unknown): FailurePolicy {
  if (policy === 'fail' || policy === 'continue' || policy === 'ignore') return policy;
  throw new ConfigError('onFailure', "'fail', 'continue' or 'ignore'", policy);
}

/** A stage's nodes as stored: each node's queue and task and (stages after the first) its bound arguments, serialized. */
export interface StageNodes {
  /** How the stage receives the one before: its outcome's shape and policy (absent for the first). */
  r?: { mode: StageMode; policy: FailurePolicy; size: number };
  /** Queue and task of every node, when they all share them; else per node. */
  q: string | string[];
  t: string | string[];
  /** Bound arguments per node (see wire()); absent for the first stage, whose jobs carry theirs. */
  a?: string[];
  /** The ids of the existing jobs an after(...) stage waits on (their queues in `q`; `t` is ''). */
  x?: string[];
}

export interface CompiledFlow {
  stages: StoredStage[];
  /** The first stage's nodes with their arguments, to enqueue at once (none when it is after(...)). */
  first: { queue: string; task: string; args: unknown[] }[];
  /** The jobs an after(...) first stage waits on, in node order. */
  external: JobRef[];
}

export function compile(flow: Flow<unknown>, serializer: Serializer): CompiledFlow {
  const stages: StoredStage[] = [];
  let prev: { mode: StageMode; policy: FailurePolicy; size: number } | undefined;
  for (const [k, stage] of flow.stages.entries()) {
    const mode: StageMode = stage instanceof Signature ? 'one' : stage.mode;
    let nodes: StageNodes;
    let size: number;
    if (stage instanceof After) {
      size = stage.jobs.length;
      nodes = { q: uniform(stage.jobs.map((j) => j.queue)), t: '', x: stage.jobs.map((j) => j.id) };
    } else {
      const members = stage instanceof Group ? stage.members : [stage];
      size = members.length;
      nodes = { q: uniform(members.map((m) => m.task.queue.name)), t: uniform(members.map((m) => m.task.name)) };
      if (k > 0) nodes.a = members.map((m) => wire(serializer.encode([...m.args])));
    }
    if (prev) nodes.r = prev;
    stages.push({ size, policy: stage.policy, mode, nodes: JSON.stringify(nodes) });
    prev = { mode, policy: stage.policy, size };
  }
  const head = flow.stages[0]!;
  if (head instanceof After) return { stages, first: [], external: [...head.jobs] };
  const first = (head instanceof Group ? head.members : [head]).map((m) => ({ queue: m.task.queue.name, task: m.task.name, args: [...m.args] }));
  return { stages, first, external: [] };
}

function uniform(values: string[]): string | string[] {
  return values.every((v) => v === values[0]) ? values[0]! : values;
}

/** Serialized bytes as JSON can carry them. */
export function wire(data: string | Buffer): string {
  return typeof data === 'string' ? `s:${data}` : `b:${data.toString('base64')}`;
}

export function unwire(text: string): string | Buffer {
  return text.startsWith('b:') ? Buffer.from(text.slice(2), 'base64') : text.slice(2);
}
