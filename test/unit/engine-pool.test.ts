import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/errors.js';
import type { Engine } from '../../src/tts/engine.js';
import { createEnginePool, endpointOf, type PoolGrant } from '../../src/tts/engine-pool.js';

const never = new AbortController().signal;

/** An engine client that is never called here: the pool only schedules. */
function idle(name = 'piper'): Engine {
  return {
    name,
    type: 'piper',
    async *synthesize() {},
    voices: async () => [],
    probe: async () => ({ healthy: true, checkedAt: Date.now() }),
  };
}

function pool(
  urls: string[],
  opts: { maxParallel?: number; balance?: 'least_outstanding' | 'round_robin'; weights?: number[] } = {},
) {
  return createEnginePool({
    name: 'piper',
    instances: urls.map((url, i) => ({ engine: idle(), url, weight: opts.weights?.[i] })),
    maxParallel: opts.maxParallel ?? 1,
    balance: opts.balance,
    breakerFailures: 1,
    breakerResetMs: 60_000,
  });
}

const fault = () => new AppError('ENGINE_UNAVAILABLE', 'connection refused');

/** Opens an instance's breaker (breakerFailures is 1 here). */
async function breakInstance(grant: PoolGrant): Promise<void> {
  await grant.instance.breaker
    .execute(async () => {
      throw fault();
    })
    .catch(() => {});
}

describe('engine pool: one queue, high before normal', () => {
  it('grants max_parallel slots per instance and queues the rest, high before normal', async () => {
    const p = pool(['tcp://a:1'], { maxParallel: 2 });
    const order: string[] = [];
    const take = (name: string, priority: 'normal' | 'high') =>
      p.acquire({ priority, signal: never }).then((g) => {
        order.push(name);
        return g;
      });
    const [a, b] = await Promise.all([take('a', 'normal'), take('b', 'normal')]);
    for (const [name, priority] of [
      ['n1', 'normal'],
      ['n2', 'normal'],
      ['h1', 'high'],
      ['h2', 'high'],
    ] as const) {
      void take(name, priority);
    }
    expect({ active: p.active, queued: p.queued }).toEqual({ active: 2, queued: 4 });
    a?.release();
    a?.release(); // a second release of the same slot changes nothing
    b?.release();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b', 'h1', 'h2']);
    expect({ active: p.active, queued: p.queued }).toEqual({ active: 2, queued: 2 });
  });

  it('drops a waiter whose signal aborts, and rejects with the abort reason', async () => {
    const p = pool(['tcp://a:1']);
    const first = await p.acquire({ priority: 'normal', signal: never });
    const controller = new AbortController();
    const waiting = p.acquire({ priority: 'high', signal: controller.signal });
    const next = p.acquire({ priority: 'normal', signal: never });
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    expect(p.queued).toBe(1);
    first.release();
    const second = await next;
    expect(p.active).toBe(1);
    second.release();
    expect(p.active).toBe(0);
    await expect(p.acquire({ priority: 'normal', signal: controller.signal })).rejects.toThrow(
      'caller gave up',
    );
  });
});

describe('engine pool: balancing', () => {
  it('least outstanding: a new request goes to the instance with the fewest running', async () => {
    const p = pool(['tcp://a:1', 'tcp://b:1', 'tcp://c:1'], { maxParallel: 4 });
    const grants: PoolGrant[] = [];
    for (let i = 0; i < 6; i++) grants.push(await p.acquire({ priority: 'normal', signal: never }));
    expect(p.instances.map((i) => i.active)).toEqual([2, 2, 2]);
    for (const g of grants.filter((g) => g.instance.index === 1)) g.release();
    const next = await p.acquire({ priority: 'normal', signal: never });
    expect(next.instance.endpoint).toBe('tcp://b:1');
  });

  it('least outstanding with weights: running ÷ weight', async () => {
    const p = pool(['tcp://gpu:1', 'tcp://pi:1'], { maxParallel: 8, weights: [3, 1] });
    for (let i = 0; i < 8; i++) await p.acquire({ priority: 'normal', signal: never });
    expect(p.instances.map((i) => i.active)).toEqual([6, 2]);
  });

  it('round robin with weights spreads sequential requests 3 : 1', async () => {
    const p = pool(['tcp://gpu:1', 'tcp://pi:1'], { balance: 'round_robin', weights: [3, 1] });
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      const g = await p.acquire({ priority: 'normal', signal: never });
      seen.push(g.instance.endpoint);
      g.release();
    }
    expect(seen.filter((e) => e === 'tcp://gpu:1')).toHaveLength(6);
    expect(seen.filter((e) => e === 'tcp://pi:1')).toHaveLength(2);
    expect(seen.slice(0, 4)).toContain('tcp://pi:1'); // interleaved, not 6 then 2
  });

  it('a queued request goes to whichever instance frees first', async () => {
    const p = pool(['tcp://a:1', 'tcp://b:1']);
    const a = await p.acquire({ priority: 'normal', signal: never });
    const b = await p.acquire({ priority: 'normal', signal: never });
    expect([a.instance.index, b.instance.index].sort()).toEqual([0, 1]);
    const waiting = p.acquire({ priority: 'normal', signal: never });
    (a.instance.index === 1 ? a : b).release();
    expect((await waiting).instance.index).toBe(1);
  });
});

describe('engine pool: failed instances', () => {
  it('skips an instance whose breaker is open; refuses at once when every instance is out', async () => {
    const p = pool(['tcp://a:1', 'tcp://b:1']);
    const a = await p.acquire({ priority: 'normal', signal: never });
    await breakInstance(a);
    a.release();
    expect(a.instance.breaker.state()).toBe('open');
    for (let i = 0; i < 3; i++) {
      const g = await p.acquire({ priority: 'normal', signal: never });
      expect(g.instance.endpoint).toBe('tcp://b:1');
      g.release();
    }
    const b = await p.acquire({ priority: 'normal', signal: never });
    const queued = p.acquire({ priority: 'normal', signal: never });
    await breakInstance(b); // the last instance opens while a request waits for it
    await expect(queued).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      details: { breaker: 'open' },
    });
    b.release();
    await expect(p.acquire({ priority: 'normal', signal: never })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
    });
    expect(p.inService()).toBe(false);
  });

  it('never gives a request an instance it excluded', async () => {
    const p = pool(['tcp://a:1', 'tcp://b:1']);
    const g = await p.acquire({ priority: 'normal', signal: never, exclude: new Set([0]) });
    expect(g.instance.index).toBe(1);
    g.release();
    expect(p.inService(new Set([0, 1]))).toBe(false);
  });

  it('gives up waiting at giveUpAt with a busy error', async () => {
    const p = pool(['tcp://a:1']);
    const held = await p.acquire({ priority: 'normal', signal: never });
    const t0 = performance.now();
    await expect(p.acquire({ priority: 'normal', signal: never, giveUpAt: t0 + 50 })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      details: { busy: true },
    });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(p.queued).toBe(0);
    held.release();
  });
});

describe('endpointOf', () => {
  it('removes credentials and names local engines', () => {
    expect(endpointOf('http://user:secret@gpu:5000/v1')).toBe('http://gpu:5000/v1');
    expect(endpointOf('tcp://10.0.0.5:10200')).toBe('tcp://10.0.0.5:10200');
    expect(endpointOf(undefined)).toBe('local');
  });
});
