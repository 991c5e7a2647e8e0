// Workflow records in Redis: each workflow's three keys share the hash tag of its id, so every
// script touches one Cluster slot (the workflow's own; its nodes' jobs live in their queues').

import { storedWorkflow, type NodeRecord, type StepAnswer, type StoredStage, type StoredWorkflow, type WorkflowStore } from '../broker/workflows.js';
import type { RedisContext } from './context.js';
import { workflowKeys } from './keys.js';
import { callScript, SCRIPTS } from './scripts.js';

/** Subscribes to a channel's notices (and its resyncs), answering the unsubscribe (RedisBroker.notices). */
export type Notices = (channel: string, fn: () => void) => Promise<() => Promise<void>>;

export class RedisWorkflows implements WorkflowStore {
  constructor(
    private readonly ctx: RedisContext,
    private readonly notices: Notices,
  ) {}

  onEnd(id: string, fn: () => void): Promise<() => Promise<void>> {
    return this.notices(this.keys(id).endChannel, fn);
  }

  /** Its keys (the scripts take the three they name; the end channel rides along unused). */
  private keys(id: string): ReturnType<typeof workflowKeys> {
    return workflowKeys(this.ctx.prefix, id);
  }

  async create(id: string, stages: StoredStage[], ttlSeconds: number): Promise<boolean> {
    const rest: (string | number)[] = [];
    for (const s of stages) rest.push(s.size, s.policy, s.mode, s.nodes);
    const out = await callScript(this.ctx.conn, SCRIPTS.wfcreate, { keys: { wf: this.keys(id).wf }, args: { ttl: ttlSeconds, stages: stages.length }, rest });
    return out === 1;
  }

  async started(id: string, stage: number): Promise<void> {
    await callScript(this.ctx.conn, SCRIPTS.wfstarted, { keys: { wf: this.keys(id).wf }, args: { stage } });
  }

  async settle(id: string, stage: number, index: number, outcome: 'ok' | 'fail', value: string | Buffer, reason = ''): Promise<StepAnswer> {
    const out = (await callScript(this.ctx.conn, SCRIPTS.wfstep, {
      keys: this.keys(id), args: { stage, index, outcome, value, reason }, buffers: this.ctx.binary,
    })) as unknown[];
    const kind = String(out[0]);
    if (kind !== 'start') return { kind: kind as 'none' };
    return { kind, stage: Number(out[1]), nodes: String(out[2]) };
  }

  async read(id: string): Promise<StoredWorkflow | null> {
    const k = this.keys(id);
    const [fields, failed] = await Promise.all([
      this.ctx.conn.hgetall(k.wf),
      this.ctx.conn.hscan(k.failed, '0', 'COUNT', 20),
    ]);
    if (fields.state === undefined) return null;
    const failedNodes: Record<number, string> = {};
    const pairs = failed[1];
    for (let i = 0; i + 1 < pairs.length; i += 2) failedNodes[Number(pairs[i]!.slice(pairs[i]!.indexOf('.') + 1))] = pairs[i + 1]!;
    return storedWorkflow(fields, failedNodes);
  }

  async results(id: string, stage: number, offset: number, count: number): Promise<(NodeRecord | null)[]> {
    if (count <= 0) return [];
    const fields = Array.from({ length: count }, (_, i) => `${stage}.${offset + i}`);
    const k = this.keys(id).results;
    return this.ctx.binary ? this.ctx.conn.hmgetBuffer(k, ...fields) : this.ctx.conn.hmget(k, ...fields);
  }

  async abort(id: string, reason: string): Promise<{ stage: number; size: number } | null> {
    const out = await callScript(this.ctx.conn, SCRIPTS.wfabort, { keys: this.keys(id), args: { reason } });
    return Array.isArray(out) ? { stage: Number(out[0]), size: Number(out[1]) } : null;
  }
}
