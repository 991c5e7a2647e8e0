// The narrow interface between workflows (src/workflow/) and their storage: a workflow's state
// is one record per workflow (its own Cluster slot: every call touches that slot alone), and
// the jobs of its nodes are ordinary jobs of their queues, enqueued with deterministic ids.
// See docs/workflows.md for the protocol and why each step is idempotent.

/** How a stage's outcome passes to the next stage: one node's value, every node's values in order, or nothing (read in pages). */
export type StageMode = 'one' | 'all' | 'paged';

/** What a failed node does to its workflow: ends it failed, counts as settled with its error, or is left out. */
export type FailurePolicy = 'fail' | 'continue' | 'ignore';

/** One stage as stored: its size, policy and mode, and its nodes (JSON, the arguments of stages not yet enqueued). */
export interface StoredStage {
  size: number;
  policy: FailurePolicy;
  mode: StageMode;
  /** JSON of the stage's nodes (src/workflow/definition.ts: StageNodes). */
  nodes: string;
}

export type WorkflowState = 'running' | 'completed' | 'failed' | 'aborted';

/**
 * What settling a node asks of its caller: nothing more ('none'), to enqueue a stage's nodes
 * (then mark it started), or nothing because the workflow ended, is gone or was aborted.
 * `start` comes back to every caller that settles a node while the current stage is not marked
 * started, so a caller that crashed between the two is made good by the node's next run.
 */
export type StepAnswer =
  | { kind: 'none' | 'gone' | 'aborted' | 'failed' | 'completed' }
  | {
    kind: 'start';
    stage: number;
    /** The stage's nodes (JSON); what they receive of the stage before, the caller reads (results()). */
    nodes: string;
  };

/** A workflow's record as read back: its fields (see WorkflowStore.create) and its failed nodes. */
export interface StoredWorkflow {
  state: WorkflowState;
  reason: string;
  stage: number;
  started: number;
  pending: number;
  createdAt: number;
  endedAt: number | undefined;
  stages: StoredStage[];
  /** Failed nodes of the current stage waiting for a replay (policy 'fail'): index -> error JSON. */
  failed: Record<number, string>;
  /** How many nodes of each stage have settled (the stages before the current one: all). */
  settled: number[];
}

/**
 * A node's record in the workflow: 'v' + its serialized value (completed), 'e' + error JSON
 * (failed, policy 'continue'), or 'x' (failed, policy 'ignore').
 */
export type NodeRecord = string | Buffer;

export interface WorkflowStore {
  /** Writes a new workflow at stage 0 (nothing is enqueued yet); false when one with this id exists. */
  create(id: string, stages: StoredStage[], ttlSeconds: number): Promise<boolean>;
  /** Marks a stage's nodes enqueued (a later stage never goes back). */
  started(id: string, stage: number): Promise<void>;
  /**
   * Settles a node, once however often it is called: 'ok' with its serialized value, or 'fail'
   * with its error JSON and `reason` (the workflow's reason when the node fails it). Counts it at most once, and moves the workflow on when its stage is
   * done, per the stage's failure policy.
   */
  settle(id: string, stage: number, index: number, outcome: 'ok' | 'fail', value: string | Buffer, reason?: string): Promise<StepAnswer>;
  /** The workflow's record, or null when there is none (never created, or expired after it ended). */
  read(id: string): Promise<StoredWorkflow | null>;
  /** Node records of a stage from `offset`, at most `count` (null: not settled yet). */
  results(id: string, stage: number, offset: number, count: number): Promise<(NodeRecord | null)[]>;
  /**
   * Calls `fn` when the workflow may have ended (completed, failed or aborted; also after a
   * reconnection may have lost a notice): the caller reads its record again. Answers the unsubscribe.
   */
  onEnd(id: string, fn: () => void): Promise<() => Promise<void>>;
  /** Ends a running or failed workflow aborted; answers its current stage then, or null when it had ended or is gone. */
  abort(id: string, reason: string): Promise<{ stage: number; size: number } | null>;
}

/** A workflow's record from its hash fields (the same fields the memory store keeps). */
export function storedWorkflow(fields: Record<string, string>, failed: Record<number, string>): StoredWorkflow {
  const n = Number(fields.n);
  const stages: StoredStage[] = [];
  const settled: number[] = [];
  const stage = Number(fields.stage);
  const done = fields.state === 'completed';
  for (let k = 0; k < n; k++) {
    const size = Number(fields[`z${k}`]);
    stages.push({ size, policy: fields[`p${k}`] as FailurePolicy, mode: fields[`m${k}`] as StageMode, nodes: fields[`d${k}`] ?? '' });
    settled.push(k < stage || done ? size : k === stage ? size - Number(fields.pending) : 0);
  }
  return {
    state: fields.state as WorkflowState,
    reason: fields.reason ?? '',
    stage,
    started: Number(fields.started),
    pending: Number(fields.pending),
    createdAt: Number(fields.created),
    endedAt: fields.ended ? Number(fields.ended) : undefined,
    stages,
    failed,
    settled,
  };
}
