// What the broker keeps besides jobs: queue names and levels, the worker registry (heartbeat.lua,
// health.lua), cron schedules, documents, and the clock (time, serverNow, ping).
import { expect, it } from 'vitest';
import { conformance, NOT_YET, Q, workerEntry } from './kit.js';


conformance('registry, schedules, documents, time', (s) => {
  it('records queue names, and the levels and shards of a queue its defining process registered', async () => {
    const { broker, inspector } = s();
    expect(await inspector.queueNames()).toEqual([]);
    await broker.registerQueue({ name: 'used', levels: ['normal'] }, false);
    await broker.registerQueue({ name: 'defined', levels: ['low', 'normal', 'high'] }, true);
    await broker.registerQueue({ name: 'defined', levels: ['low', 'normal', 'high'] }, true);
    expect(await inspector.queueNames()).toEqual(['defined', 'used']);
    await broker.registerQueue({ name: 'sharded', levels: ['normal', 'high'], shards: 6 }, true);
    expect(await inspector.queueNames()).toEqual(['defined', 'sharded', 'used']);
    expect(await broker.queueShape('defined')).toEqual({ levels: ['low', 'normal', 'high'], shards: 1 });
    expect(await broker.queueShape('sharded')).toEqual({ levels: ['normal', 'high'], shards: 6 });
    expect(await broker.queueShape('used')).toBeUndefined();
    expect(await broker.queueShape('never')).toBeUndefined();
  });

  it('lists workers by heartbeat, oldest first, until their entry expires or they are removed', async () => {
    const { broker, inspector } = s();
    const t = await broker.time();
    await broker.heartbeat(workerEntry('w1', t, 4), NOT_YET, [{ queue: Q, record: '{"ok":true}' }]);
    await s().elapse(5);
    await broker.heartbeat(workerEntry('w2', t, 4), s().short, []);
    await s().elapse(5);
    await broker.heartbeat(workerEntry('w3', t, 4), NOT_YET, []);
    expect((await inspector.workers()).map((w) => w.id)).toEqual(['w1', 'w2', 'w3']);
    expect((await inspector.workers())[0]).toEqual(workerEntry('w1', t, 4));
    // A newer beat moves a worker last and replaces its entry.
    await s().elapse(5);
    await broker.heartbeat({ ...workerEntry('w1', t, 4), processed: 5 }, NOT_YET, []);
    expect((await inspector.workers()).map((w) => [w.id, w.processed])).toEqual([['w2', 0], ['w3', 0], ['w1', 5]]);
    await s().elapse(s().short + 10);
    expect((await inspector.workers()).map((w) => w.id)).toEqual(['w3', 'w1']);
    await broker.removeWorker('w3', [Q]);
    expect((await inspector.workers()).map((w) => w.id)).toEqual(['w1']);
  });

  it('saves, lists and deletes cron schedules', async () => {
    const { broker } = s();
    expect(await broker.schedules()).toEqual({});
    await broker.saveSchedule('a', '{"cron":"* * * * *"}');
    await broker.saveSchedule('b', '{"cron":"0 * * * *"}');
    await broker.saveSchedule('a', '{"cron":"*/5 * * * *"}');
    expect(await broker.schedules()).toEqual({ a: '{"cron":"*/5 * * * *"}', b: '{"cron":"0 * * * *"}' });
    expect(await broker.deleteSchedule('a', Q)).toBe(true);
    expect(await broker.deleteSchedule('a', Q)).toBe(false);
    expect(await broker.schedules()).toEqual({ b: '{"cron":"0 * * * *"}' });
  });

  it('keeps documents until their ttl', async () => {
    const { broker } = s();
    await broker.saveDocument('report', 'r1', '{"n":1}', s().short);
    await broker.saveDocument('report', 'r2', '{"n":2}', NOT_YET);
    await broker.saveDocument('other', 'r1', '{"n":3}', NOT_YET);
    expect(await broker.loadDocument('report', 'r1')).toBe('{"n":1}');
    expect(await broker.loadDocument('report', 'none')).toBeNull();
    await s().elapse(s().short + 10);
    expect(await broker.loadDocument('report', 'r1')).toBeNull();
    expect(await broker.loadDocument('report', 'r2')).toBe('{"n":2}');
    expect(await broker.loadDocument('other', 'r1')).toBe('{"n":3}');
  });

  it('answers its time, moving with the clock, and pings', async () => {
    const { broker } = s();
    const t1 = await broker.time();
    const n1 = await broker.serverNow();
    expect(Math.abs(n1 - t1)).toBeLessThan(NOT_YET);
    await s().elapse(30);
    expect(await broker.time()).toBeGreaterThanOrEqual(t1 + 30);
    // Never behind what it answered: a new TIME on a loaded host can put the offset back by more
    // than the 30 ms waited, and serverNow then holds (a loaded CI run saw it equal).
    expect(await broker.serverNow()).toBeGreaterThanOrEqual(n1);
    expect(await broker.ping()).toBeGreaterThanOrEqual(0);
  });
});
