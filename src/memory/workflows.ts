// Workflow records in memory: the same fields and transitions as the Redis scripts
// (src/redis/lua/wf*.lua), step for step, so the conformance suite holds both to one contract.

import { storedWorkflow, type NodeRecord, type StepAnswer, type StoredStage, type StoredWorkflow, type WorkflowStore } from '../broker/workflows.js';
import type { Clock } from './clock.js';

interface Record_ {
  fields: Record<string, string>;
  results: Map<string, NodeRecord>;
  failed: Map<string, string>;
  /** Clock ms the record expires at (undefined: kept). */
  expiresAt?: number;
}

export class MemoryWorkflows implements WorkflowStore {
  private readonly records = new Map<string, Record_>();
  private readonly enders = new Map<string, Set<() => void>>();

  async onEnd(id: string, fn: () => void): Promise<() => Promise<void>> {
    let set = this.enders.get(id);
    if (!set) this.enders.set(id, (set = new Set()));
    set.add(fn);
    return async () => {
      set.delete(fn);
      if (set.size === 0) this.enders.delete(id);
    };
  }

  /** Tells the result waiters of a workflow it ended (as the scripts publish on its end channel). */
  private ended(id: string): void {
    for (const fn of [...(this.enders.get(id) ?? [])]) queueMicrotask(fn);
  }

  constructor(private readonly clock: Clock) {}

  private get(id: string): Record_ | undefined {
    const r = this.records.get(id);
    if (r && r.expiresAt !== undefined && r.expiresAt <= this.clock.now()) {
      this.records.delete(id);
      return undefined;
    }
    return r;
  }

  async create(id: string, stages: StoredStage[], ttlSeconds: number): Promise<boolean> {
    if (this.get(id)) return false;
    const fields: Record<string, string> = {
      state: 'running', reason: '', stage: '0', started: '-1', pending: String(stages[0]!.size), n: String(stages.length),
      created: String(this.clock.now()), ended: '', ttl: String(ttlSeconds),
    };
    stages.forEach((s, k) => Object.assign(fields, { [`z${k}`]: String(s.size), [`p${k}`]: s.policy, [`m${k}`]: s.mode, [`d${k}`]: s.nodes }));
    this.records.set(id, { fields, results: new Map(), failed: new Map() });
    return true;
  }

  async started(id: string, stage: number): Promise<void> {
    const r = this.get(id);
    if (r && Number(r.fields.started) < stage) r.fields.started = String(stage);
  }

  async settle(id: string, stage: number, index: number, outcome: 'ok' | 'fail', value: string | Buffer, reason = ''): Promise<StepAnswer> {
    const r = this.get(id);
    if (!r) return { kind: 'gone' };
    const f = r.fields;
    let state = f.state!;
    if (state === 'aborted' || state === 'completed') return { kind: state };
    const cur = Number(f.stage);
    const ttlMs = Number(f.ttl) * 1000;
    const keep = (ms: number | undefined): void => {
      r.expiresAt = ms === undefined ? undefined : this.clock.now() + ms;
    };
    if (stage !== cur) return stage < cur && Number(f.started) < cur ? this.start(r, cur) : { kind: 'none' };
    const field = `${stage}.${index}`;
    if (r.results.has(field)) return { kind: 'none' };
    if (outcome === 'ok') {
      r.results.set(field, tagged('v', value));
      if (state === 'failed' && r.failed.delete(field)) {
        if (r.failed.size === 0) {
          state = 'running';
          Object.assign(f, { state, reason: '', ended: '' });
          keep(undefined);
        } else {
          f.reason = r.failed.values().next().value!;
        }
      }
    } else {
      const policy = f[`p${stage}`];
      if (policy === 'fail') {
        if (!r.failed.has(field)) {
          r.failed.set(field, reason);
          if (state === 'running') {
            Object.assign(f, { state: 'failed', reason, ended: String(this.clock.now()) });
            keep(ttlMs);
            this.ended(id);
          }
        }
        return { kind: 'failed' };
      }
      r.results.set(field, policy === 'continue' ? tagged('e', value) : 'x');
    }
    const pending = Number(f.pending) - 1;
    f.pending = String(pending);
    if (state !== 'running') {
      keep(ttlMs);
      return { kind: 'none' };
    }
    if (pending > 0) return { kind: 'none' };
    if (stage === Number(f.n) - 1) {
      Object.assign(f, { state: 'completed', ended: String(this.clock.now()) });
      keep(ttlMs);
      this.ended(id);
      return { kind: 'completed' };
    }
    Object.assign(f, { stage: String(stage + 1), pending: f[`z${stage + 1}`] });
    return this.start(r, stage + 1);
  }

  private start(r: Record_, k: number): StepAnswer {
    return { kind: 'start', stage: k, nodes: r.fields[`d${k}`]! };
  }

  async read(id: string): Promise<StoredWorkflow | null> {
    const r = this.get(id);
    if (!r) return null;
    const failed: Record<number, string> = {};
    for (const [field, reason] of [...r.failed].slice(0, 20)) failed[Number(field.slice(field.indexOf('.') + 1))] = reason;
    return storedWorkflow({ ...r.fields }, failed);
  }

  async results(id: string, stage: number, offset: number, count: number): Promise<(NodeRecord | null)[]> {
    const r = this.get(id);
    return Array.from({ length: Math.max(0, count) }, (_, i) => r?.results.get(`${stage}.${offset + i}`) ?? null);
  }

  async abort(id: string, reason: string): Promise<{ stage: number; size: number } | null> {
    const r = this.get(id);
    const state = r?.fields.state;
    if (!r || state === 'completed' || state === 'aborted') return null;
    Object.assign(r.fields, { state: 'aborted', reason, ended: String(this.clock.now()) });
    r.expiresAt = this.clock.now() + Number(r.fields.ttl) * 1000;
    this.ended(id);
    const stage = Number(r.fields.stage);
    return { stage, size: Number(r.fields[`z${stage}`]) };
  }
}

/** A node record: its tag and its bytes (a Buffer stays one, as Redis keeps bytes). */
function tagged(tag: string, value: string | Buffer): NodeRecord {
  return typeof value === 'string' ? tag + value : Buffer.concat([Buffer.from(tag), value]);
}
