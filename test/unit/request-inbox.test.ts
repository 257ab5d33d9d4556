/**
 * The request inbox over a real journal file, fed through its MqttBus subscription (our own interface; no
 * broker needed for these): a request that dies with the hub on every start is given up after max_attempts
 * and answered REQUEST_ABANDONED, and messages taken over from a dead hub's session are run unless that hub's
 * journal holds them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPublishPacket } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageHandler, MqttBus } from '../../src/mqtt/client.js';
import type { InboxContext } from '../../src/mqtt/inbox-types.js';
import { createRequestInbox } from '../../src/mqtt/request-inbox.js';
import { createRequestJournal, deliveryKey } from '../../src/mqtt/request-journal.js';
import { silentLog } from '../../src/shared/log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A bus that only records the handler of each subscription. */
function fakeBus(): { bus: MqttBus; handlers: Map<string, MessageHandler> } {
  const handlers = new Map<string, MessageHandler>();
  const bus = {
    subscribe: async (filter: string, _qos: 0 | 1, handler: MessageHandler) => {
      handlers.set(filter, handler);
    },
  } as unknown as MqttBus;
  return { bus, handlers };
}

const packet = (messageId: number, text: string, dup = false): IPublishPacket => ({
  cmd: 'publish',
  topic: 'tts/say',
  payload: Buffer.from(text),
  qos: 1,
  dup,
  retain: false,
  messageId,
});

/** One hub start: journal + inbox on `dir`, with `handler` for tts/say. */
async function start(
  dir: string,
  handler: (ctx: InboxContext, payload: string) => Promise<boolean>,
  maxAttempts = 3,
) {
  const journal = createRequestJournal({ dir, log: silentLog() });
  const inbox = createRequestInbox({
    journal,
    session: 'hub_a',
    maxInFlight: 4,
    maxPending: 100,
    maxAttempts,
    log: silentLog(),
  });
  const { bus, handlers } = fakeBus();
  await inbox.subscribe(bus, 'tts/say', (msg, ctx) => handler(ctx, msg.payload.toString()));
  await inbox.open();
  await inbox.run();
  return { journal, inbox, deliver: handlers.get('tts/say') as MessageHandler };
}

const tick = () => new Promise((r) => setTimeout(r, 30));

describe('request inbox', () => {
  it('a request the hub dies on every time is started max_attempts times, then answered REQUEST_ABANDONED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-hub-inbox-'));
    dirs.push(dir);
    const seen: Array<string | undefined> = [];
    // A start that "crashes" during the request: the handler never finishes and the journal is left as is.
    const dying = (ctx: InboxContext) => {
      seen.push(ctx.abandoned?.code);
      return ctx.abandoned ? Promise.resolve(true) : new Promise<boolean>(() => {});
    };
    const first = await start(dir, dying);
    let acked = false;
    first.deliver('tts/say', Buffer.from('{"text":"boom"}'), packet(7, '{"text":"boom"}'), () => {
      acked = true;
      return true;
    });
    await vi.waitFor(() => expect(acked).toBe(true)); // journaled, then acknowledged
    await first.journal.close();
    for (let restart = 0; restart < 3; restart++) {
      const hub = await start(dir, dying);
      await vi.waitFor(() => expect(seen).toHaveLength(restart + 2)); // this start replayed it
      await hub.journal.close();
    }
    expect(seen).toEqual([undefined, undefined, undefined, 'REQUEST_ABANDONED']);
    const after = await start(dir, dying);
    await tick(); // proves a negative: nothing is replayed
    expect(seen).toHaveLength(4); // finished: nothing left to replay
    await after.journal.close();
  });

  it("runs requests taken from a dead hub's session unless its journal holds them", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-hub-inbox-'));
    dirs.push(dir);
    const ran: string[] = [];
    const hub = await start(dir, async (_ctx, payload) => {
      ran.push(payload);
      return true;
    });
    const theirs = new Set([deliveryKey('hub_b', 'tts/say', 3, Buffer.from('journaled by b'))]);
    const acks = new Set<number>(); // ack may be called more than once (the real ones send one PUBACK)
    for (const [id, text] of [
      [3, 'journaled by b'],
      [4, 'queued for b'],
    ] as const) {
      const p = packet(id, text, id === 3);
      const taken = hub.inbox.takeMessage(p, () => acks.add(id).has(id), 'hub_b', theirs);
      expect(taken).toBe(true);
    }
    await vi.waitFor(() => expect([...acks].sort()).toEqual([3, 4]));
    await vi.waitFor(() => expect(ran).toContain('queued for b'));
    expect(hub.inbox.depth().journaled).toBe(0);
    expect(ran).toEqual(['queued for b']);
    await hub.inbox.stop(100);
  });
});
