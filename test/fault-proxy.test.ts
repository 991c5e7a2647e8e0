// Tests of the chaos suite's fault-injecting proxy: its RESP framing over every chunk split, and
// each fault against ioredis and a private redis-server (the shared Redis is never touched).

import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, FaultProxy, commandIn, isScript, onConnection } from '../chaos/lib/faultProxy.js';
import { ChunkReader, RespProtocolError, readRequest, replyEnd, type ProxyCommand } from '../chaos/lib/resp.js';
import { RedisServer } from '../support/redis-server.js';

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Feeds `chunks` to a reader and returns every whole reply, as text. */
function replies(chunks: Buffer[]): string[] {
  const r = new ChunkReader();
  const out: string[] = [];
  for (const chunk of chunks) {
    r.push(chunk);
    while (r.ready()) {
      const end = replyEnd(r);
      if (end < 0) break;
      out.push(r.buf.toString('latin1', r.off, end));
      r.off = end;
    }
  }
  return out;
}

function requests(chunks: Buffer[]): ProxyCommand[] {
  const r = new ChunkReader();
  const out: ProxyCommand[] = [];
  for (const chunk of chunks) {
    r.push(chunk);
    for (let cmd; r.ready() && (cmd = readRequest(r)); ) out.push(cmd);
  }
  return out;
}

/** The stream cut at `at`, and cut into single bytes. */
function splits(stream: Buffer): Buffer[][] {
  const cuts = [...Array(stream.length + 1).keys()].map((at) => [stream.subarray(0, at), stream.subarray(at)]);
  return [...cuts, [...stream].map((b) => Buffer.from([b]))];
}

describe('RESP framing', () => {
  const SAMPLES = [
    '+OK\r\n', '-ERR wrong\r\n', ':-12\r\n', '$5\r\nhe\r\no\r\n', '$0\r\n\r\n', '$-1\r\n', '*-1\r\n', '*0\r\n',
    '*3\r\n*2\r\n:1\r\n$3\r\nabc\r\n*-1\r\n$-1\r\n', '_\r\n', ',3.14\r\n', '#t\r\n', '(3492890328409238509324850943850943825024385\r\n',
    '!11\r\nSYNTAX oops\r\n', '=15\r\ntxt:Some string\r\n', '%2\r\n+a\r\n:1\r\n+b\r\n~1\r\n_\r\n', '>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n',
    '|1\r\n+ttl\r\n:3\r\n*1\r\n+annotated\r\n',
  ];

  it('finds the end of every RESP2 and RESP3 reply type, however the stream is split', () => {
    const stream = Buffer.from(SAMPLES.join(''), 'latin1');
    for (const chunks of splits(stream)) expect(replies(chunks)).toEqual(SAMPLES);
  });

  it('joins a big bulk from many chunks', () => {
    const body = randomBytes(300_000);
    const stream = Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n+OK\r\n')]);
    const chunks = [...Array(Math.ceil(stream.length / 1000)).keys()].map((i) => stream.subarray(i * 1000, (i + 1) * 1000));
    const [bulk, ok] = replies(chunks);
    expect(Buffer.from(bulk!, 'latin1').equals(stream.subarray(0, stream.length - 5))).toBe(true);
    expect(ok).toBe('+OK\r\n');
  });

  it('parses multibulk and inline requests, however the stream is split', () => {
    const stream = Buffer.from('*3\r\n$3\r\nset\r\n$1\r\nk\r\n$4\r\nv\r\nv\r\nPING\r\nget  a\tb\n\r\n*1\r\n$4\r\nEXEC\r\n', 'latin1');
    const expected = [['SET', 'k', 'v\r\nv'], ['PING'], ['GET', 'a', 'b'], [''], ['EXEC']];
    for (const chunks of splits(stream)) {
      expect(requests(chunks).map((c) => [c.name, ...c.args.map(String)])).toEqual(expected);
    }
  });

  it('rejects bytes that are not RESP', () => {
    const r = new ChunkReader();
    r.push(Buffer.from('?weird\r\n'));
    expect(() => replyEnd(r)).toThrow(RespProtocolError);
    r.takeRest();
    r.push(Buffer.from('*1\r\n+PING\r\n'));
    expect(() => readRequest(r)).toThrow(RespProtocolError);
  });
});

describe('FaultProxy', () => {
  let server: RedisServer;
  let direct: Redis;
  let proxy: FaultProxy;
  const clients: Redis[] = [];

  beforeAll(async () => {
    server = await RedisServer.start({ dirPrefix: 'millrace-fault-proxy-' });
    direct = server.client();
    proxy = await FaultProxy.start(server.port, { seed: 42 });
  });

  afterEach(() => {
    proxy.clearFaults();
    for (const c of clients.splice(0)) c.disconnect();
  });

  afterAll(async () => {
    direct?.disconnect();
    await proxy?.close();
    await server?.stop();
  });

  /** An ioredis client (default options unless given) through the proxy, once ready. */
  async function viaProxy(options: RedisOptions = {}): Promise<Redis> {
    const c = new Redis(proxy.url, options);
    c.on('error', () => undefined); // resets are the point
    clients.push(c);
    if (c.status !== 'ready') await once(c, 'ready');
    return c;
  }

  function reconnects(c: Redis): () => number {
    let n = 0;
    c.on('reconnecting', () => n++);
    return () => n;
  }

  /** Writes raw bytes through the proxy and returns what comes back until `done` says so or the proxy closes. */
  async function raw(bytes: string, done: (text: string) => boolean): Promise<{ text: string; closed: boolean; firstByteMs: number }> {
    const sock = connect(proxy.port, '127.0.0.1');
    const sent = Date.now();
    let text = '';
    let firstByteMs = -1;
    sock.write(bytes);
    return new Promise((resolve) => {
      sock.on('data', (d) => {
        if (firstByteMs < 0) firstByteMs = Date.now() - sent;
        text += d.toString('latin1');
        if (done(text)) {
          sock.destroy();
          resolve({ text, closed: false, firstByteMs });
        }
      });
      sock.on('error', () => undefined);
      sock.on('close', () => resolve({ text, closed: true, firstByteMs }));
    });
  }

  it.each([2, 3] as const)('passes pipelined commands through unchanged (RESP%i)', async (protocol) => {
    const k = `pass${protocol}`;
    const big = randomBytes(700_000).toString('base64'); // ~1 MB each way, over many chunks
    const c = await viaProxy({ protocol });
    const plain = server.client({ protocol });
    try {
      const write = c.pipeline().set(`${k}:big`, big).hset(`${k}:h`, { a: '1', b: '2' }).sadd(`${k}:set`, 'x', 'y').zadd(`${k}:z`, 1.5, 'm');
      for (let i = 1; i <= 30; i++) write.xadd(`${k}:s`, `${i}-0`, 'n', String(i), 'pad', 'x'.repeat(i * 40));
      write.xgroup('CREATE', `${k}:s`, 'g', '0').xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', `${k}:s`, '>');
      expect((await write.exec())!.every(([err]) => err === null)).toBe(true);
      expect(await direct.get(`${k}:big`)).toBe(big);

      const read = (r: Redis) => r.pipeline()
        .get(`${k}:big`).get(`${k}:missing`).xrange(`${k}:s`, '-', '+', 'COUNT', 5)
        .xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', `${k}:s`, '0') // the pending ones: the same reply every time
        .hgetall(`${k}:h`).smembers(`${k}:set`).zscore(`${k}:z`, 'm').blpop(`${k}:empty`, 0.01)
        .eval("return {1, {2, 'three', {}}, redis.call('GET', KEYS[1])}", 1, `${k}:missing`)
        .exec();
      const [viaP, viaD] = await Promise.all([read(c), read(plain)]);
      expect(viaP).toEqual(viaD);
      expect(viaP![0]![1]).toBe(big);
      expect(viaP![1]).toEqual([null, null]);

      const many = c.pipeline();
      for (let i = 0; i < 20_000; i++) many.incr(`${k}:n`);
      expect((await many.exec())!.at(-1)).toEqual([null, 20_000]);
    } finally {
      plain.disconnect();
    }
  });

  it('answers matched commands with the injected error, without running them, and keeps later replies in order', async () => {
    const c = await viaProxy();
    await direct.set('err:a', 'old');
    const before = proxy.stats;
    proxy.setFaults([{ kind: 'error', error: ERRORS.READONLY, rate: 1, match: commandIn('set') }]);
    const res = await c.pipeline().set('err:a', 'new').get('err:a').set('err:b', '1').incr('err:n').get('err:n').set('err:c', '2').exec();
    expect(res!.map(([err, v]) => err?.message ?? v)).toEqual([ERRORS.READONLY, 'old', ERRORS.READONLY, 1, '1', ERRORS.READONLY]);
    expect(await direct.mget('err:a', 'err:b', 'err:c')).toEqual(['old', null, null]);
    const after = proxy.stats;
    expect(after.injected.error - before.injected.error).toBe(3);
    expect((after.byCommand.SET?.error ?? 0) - (before.byCommand.SET?.error ?? 0)).toBe(3);
    expect(after.forwarded - before.forwarded).toBe(3);
  });

  it('hits a script by its sha, and takes any custom error line', async () => {
    const c = await viaProxy();
    const script = "return redis.call('INCR', KEYS[1])";
    const sha = String(await direct.script('LOAD', script));
    const seen: ProxyCommand[] = [];
    proxy.setFaults([{ kind: 'error', error: '-ERR injected by test\r\n', rate: 1, match: (cmd) => (seen.push(cmd), isScript(cmd) && String(cmd.args[0]) === sha) }]);
    await expect(c.evalsha(sha, 1, 'sha:n')).rejects.toThrow('ERR injected by test');
    expect(await c.eval("return redis.call('INCR', KEYS[1])", 1, 'sha:n')).toBe(1);
    expect(seen.map((cmd) => cmd.name)).toEqual(['EVALSHA', 'EVAL']);
    expect(() => proxy.setFaults([{ kind: 'error', error: 'two\r\nlines', rate: 1 }])).toThrow(/one non-empty line/);
  });

  it('writes an injected error only after the replies to the commands sent before it', async () => {
    proxy.setFaults([{ kind: 'error', error: ERRORS.LOADING, rate: 1, match: commandIn('SET') }]);
    // A blocking read that times out after 200 ms, then an injected SET, then an inline PING.
    const blpop = '*3\r\n$5\r\nBLPOP\r\n$9\r\nord:empty\r\n$3\r\n0.2\r\n';
    const set = '*3\r\n$3\r\nSET\r\n$5\r\nord:k\r\n$1\r\nv\r\n';
    const got = await raw(`${blpop}${set}PING\r\n`, (t) => t.endsWith('+PONG\r\n'));
    expect(got.text).toBe(`*-1\r\n-${ERRORS.LOADING}\r\n+PONG\r\n`);
    expect(got.firstByteMs).toBeGreaterThanOrEqual(150);

    const c = await viaProxy();
    const res = await c.pipeline().blpop('ord:empty', 0.2).set('ord:k', 'v').get('ord:k').exec();
    expect(res).toEqual([[null, null], [expect.objectContaining({ message: ERRORS.LOADING })], [null, null]]);
  });

  it('drop-reply: the command runs, its reply is lost, and the ioredis resend runs it again', async () => {
    const c = await viaProxy();
    const reconnected = reconnects(c);
    proxy.setFaults([{ kind: 'drop-reply', rate: 1, times: 1, match: commandIn('INCR') }]);
    expect(await c.incr('drop:n')).toBe(2);
    expect(await direct.get('drop:n')).toBe('2');
    expect(reconnected()).toBe(1);
    expect(proxy.stats.injected['drop-reply']).toBe(1);
    expect(proxy.stats.byCommand.INCR?.['drop-reply']).toBe(1);
  });

  it('reset: the command never reaches Redis; ioredis reconnects and sends it once', async () => {
    proxy.setFaults([{ kind: 'reset', rate: 1, times: 1, match: commandIn('INCR') }]);
    const got = await raw('*2\r\n$4\r\nINCR\r\n$9\r\nreset:raw\r\n', () => false);
    expect(got).toMatchObject({ text: '', closed: true });
    expect(await direct.get('reset:raw')).toBeNull();

    const c = await viaProxy();
    const reconnected = reconnects(c);
    proxy.setFaults([{ kind: 'reset', rate: 1, times: 1, match: commandIn('INCR') }]);
    expect(await c.incr('reset:n')).toBe(1);
    expect(reconnected()).toBe(1);
    expect(proxy.stats.injected.reset).toBe(2);
  });

  it('keeps every reply with its own command under mixed faults on concurrent connections', async () => {
    const cs = await Promise.all([1, 2, 3].map(() => viaProxy({ retryStrategy: () => 5 })));
    const before = proxy.stats.injected;
    const echo = commandIn('ECHO');
    proxy.setFaults([
      { kind: 'drop-reply', rate: 0.01, times: 10, match: echo },
      { kind: 'reset', rate: 0.01, times: 10, match: echo },
      { kind: 'error', error: ERRORS.BUSY, rate: 0.2, match: echo },
    ]);
    const outcomes = await Promise.all(cs.flatMap((c, ci) => Array.from({ length: 1000 }, (_, i) => {
      const id = `${ci}:${i}`;
      return c.echo(id).then((v) => (v === id ? 'own' : `${id} got ${v}`), (err: Error) => (err.message === ERRORS.BUSY ? 'busy' : err.message));
    })));
    expect(outcomes.filter((o) => o !== 'own' && o !== 'busy')).toEqual([]);
    const injected = proxy.stats.injected;
    // An error queued behind a dropped reply or a reset is never written, so fewer arrive than were injected.
    const busy = outcomes.filter((o) => o === 'busy').length;
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeLessThanOrEqual(injected.error - before.error);
    expect(injected['drop-reply'] - before['drop-reply']).toBeGreaterThan(0);
    expect(injected.reset - before.reset).toBeGreaterThan(0);
  });

  it('passes pub/sub connections through untouched, and resets only them on demand', async () => {
    const sub = await viaProxy({ connectionName: 'millrace:subscriber' });
    const cmd = await viaProxy({ connectionName: 'millrace:commands' });
    const [subReconnects, cmdReconnects] = [reconnects(sub), reconnects(cmd)];
    const messages: string[] = [];
    sub.on('message', (_channel: string, m: string) => messages.push(m));
    await sub.subscribe('ps:ch');
    proxy.setFaults([{ kind: 'error', error: ERRORS.OOM, rate: 1 }]);

    await expect(cmd.get('ps:x')).rejects.toThrow(ERRORS.OOM);
    expect(await sub.get('ps:x')).toBeNull(); // RESP3 allows commands on a subscribed connection
    await direct.publish('ps:ch', 'one');
    await waitFor(() => messages.includes('one'), 'the first message');
    const conns = proxy.connections;
    expect(conns.find((c) => c.name === 'millrace:subscriber')?.subscriber).toBe(true);
    expect(conns.find((c) => c.name === 'millrace:commands')).toMatchObject({ subscriber: false, commands: expect.any(Number) });
    expect(conns.filter((c) => onConnection(/^millrace:/)({ name: 'GET', args: [] }, c))).toHaveLength(2);

    expect(proxy.resetConnections((c) => c.subscriber)).toBe(1);
    await waitFor(async () => (await direct.publish('ps:ch', 'two')) === 1, 'the resubscription');
    await waitFor(() => messages.includes('two'), 'a message after the reset');
    expect([subReconnects(), cmdReconnects()]).toEqual([1, 0]);
  });

  it('passes MULTI ... EXEC through untouched, even at rate 1', async () => {
    const c = await viaProxy();
    proxy.setFaults([{ kind: 'error', error: ERRORS.READONLY, rate: 1 }]);
    await expect(c.set('tx:out', '1')).rejects.toThrow(ERRORS.READONLY);
    expect(await c.multi().set('tx:a', '1').incr('tx:b').get('tx:a').exec()).toEqual([[null, 'OK'], [null, 1], [null, '1']]);
    await expect(c.get('tx:a')).rejects.toThrow(ERRORS.READONLY);
  });

  it('cut() resets and refuses connections until restore()', async () => {
    const c = await viaProxy({ retryStrategy: () => 20 });
    const reconnected = reconnects(c);
    proxy.cut();
    expect(proxy.connections).toHaveLength(0);
    await waitFor(() => reconnected() >= 2, 'refused reconnects');
    proxy.restore();
    expect(await c.ping()).toBe('PONG');
  });

  it('repeats the same faults with the same seed, and counts them', async () => {
    const run = async (seed: number) => {
      const p = await FaultProxy.start(server.port, { seed });
      const c = new Redis(p.url);
      try {
        await c.ping();
        p.setFaults([{ kind: 'error', error: 'ERR injected', rate: 0.3, match: commandIn('GET') }]);
        const pipe = c.pipeline();
        for (let i = 0; i < 200; i++) pipe.get('seed:k').ping();
        const res = (await pipe.exec())!;
        expect(res.filter((_, i) => i % 2 === 1)).toEqual(Array(200).fill([null, 'PONG']));
        return { hits: res.filter((_, i) => i % 2 === 0).map(([err]) => (err ? 1 : 0)).join(''), stats: p.stats };
      } finally {
        c.disconnect();
        await p.close();
      }
    };
    const [a, b, other] = [await run(7), await run(7), await run(8)];
    expect(a.hits).toBe(b.hits);
    expect(a.hits).not.toBe(other.hits);
    const hits = a.hits.split('1').length - 1;
    expect(hits).toBeGreaterThan(30);
    expect(hits).toBeLessThan(90);
    expect(a.stats.injected).toEqual({ error: hits, 'drop-reply': 0, reset: 0 });
    expect(a.stats.byCommand).toEqual({ GET: { error: hits } });
    expect(a.stats.commands - a.stats.forwarded).toBe(hits);
  });
});
