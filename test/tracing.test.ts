// OpenTelemetry: the enqueuer's trace context reaches the task, which runs in a child span.
import { context, propagation, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

describe('trace context', () => {
  let t: TestApp<Record<string, never>>;
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => {
    context.setGlobalContextManager(manager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterAll(() => {
    context.disable();
    propagation.disable();
  });
  afterEach(() => t.cleanup());

  it('carries the active trace from enqueue to execution', async () => {
    t = testApp({}, 'trace');
    const task = t.app.queue('q').task('traced', async () => trace.getSpanContext(context.active())?.traceId ?? 'none');
    const worker = t.app.worker({ handleSignals: false, healthFile: false });
    await worker.start();
    try {
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const parent = trace.setSpanContext(context.active(), { traceId, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED });
      const job = await context.with(parent, () => task.enqueue());
      expect(await job.result({ timeout: 5000 })).toBe(traceId);
      // Without an active span nothing is carried.
      const untraced = await task.enqueue();
      expect(await untraced.result({ timeout: 5000 })).toBe('none');
    } finally {
      await worker.stop();
    }
  });
});
