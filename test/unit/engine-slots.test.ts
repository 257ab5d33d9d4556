import { describe, expect, it } from 'vitest';
import { createEngineSlots } from '../../src/tts/engine-slots.js';

const never = new AbortController().signal;

describe('engine slots', () => {
  it('grants max_parallel slots at once and queues the rest, high before normal', async () => {
    const slots = createEngineSlots(2);
    const order: string[] = [];
    const take = (name: string, priority: 'normal' | 'high') =>
      slots.acquire(priority, never).then((release) => {
        order.push(name);
        return release;
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
    expect({ active: slots.active, queued: slots.queued }).toEqual({ active: 2, queued: 4 });
    a();
    a(); // a second release of the same slot changes nothing
    b();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b', 'h1', 'h2']);
    expect({ active: slots.active, queued: slots.queued }).toEqual({ active: 2, queued: 2 });
  });

  it('drops a waiter whose signal aborts, and rejects with the abort reason', async () => {
    const slots = createEngineSlots(1);
    const release = await slots.acquire('normal', never);
    const controller = new AbortController();
    const waiting = slots.acquire('high', controller.signal);
    const next = slots.acquire('normal', never);
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    expect(slots.queued).toBe(1);
    release();
    const second = await next;
    expect(slots.active).toBe(1);
    second();
    expect(slots.active).toBe(0);
    await expect(slots.acquire('normal', controller.signal)).rejects.toThrow('caller gave up');
  });
});
