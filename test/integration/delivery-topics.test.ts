/**
 * Topic hygiene (issue 10): `reply_to` and the MQTT 5 response topic are checked before the hub publishes to
 * them (BAD_REPLY_TO on the result topic), and a publish the broker refuses by closing the connection is
 * dropped after it was refused twice instead of being resent at every reconnect. Real mosquitto throughout.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMqttBus } from '../../src/mqtt/client.js';
import { silentLog } from '../../src/shared/log.js';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';

describe('reply topics', () => {
  let broker: RunningMosquitto;
  let client: SayClient;
  let hub: InProcessHub;

  beforeAll(async () => {
    broker = await startMosquitto();
    client = await connectSayClient(broker.url, { extraTopics: ['tts/availability'] });
    hub = await startInProcessHub({}, broker.url);
  });
  afterAll(async () => {
    await hub?.close();
    await client?.close();
    await broker?.stop();
  });

  it('reply_to with a wildcard answers BAD_REPLY_TO, and the hub stays online and keeps answering', async () => {
    const offline = client.received.length;
    const bad = await client.say(JSON.stringify({ id: 'wild-1', text: 'Hello.', reply_to: 'a/#' }), 'wild-1');
    expect(bad).toMatchObject({ id: 'wild-1', ok: false, error: { code: 'BAD_REPLY_TO' } });
    expect((bad.error as { message: string }).message).toMatch(/reply_to 'a\/#' holds a wildcard/);
    for (const [i, replyTo] of ['+', '$SYS/x', 'x'.repeat(257), 'a\u0000b'].entries()) {
      const id = `bad-${i}`;
      const r = await client.say(JSON.stringify({ id, text: 'Hello.', reply_to: replyTo }), id);
      expect(r).toMatchObject({ ok: false, error: { code: 'BAD_REPLY_TO' } });
    }
    // Still connected: a good say right after is answered, on reply_to too, and availability never went offline.
    const reply = client.next('my/answers', () => true, 10_000);
    await client.client.subscribeAsync('my/answers', { qos: 1 });
    const good = await client.say(
      JSON.stringify({ id: 'good-1', text: 'Hello.', reply_to: 'my/answers' }),
      'good-1',
    );
    expect(good).toMatchObject({ ok: true });
    expect(JSON.parse((await reply).toString())).toMatchObject({ id: 'good-1', ok: true });
    const availability = client.received.slice(offline).filter((m) => m.topic === 'tts/availability');
    expect(availability.map((m) => m.payload.toString())).not.toContain('offline');
    expect(hub.hub.brokerUrl()).toBe(broker.url);
  });

  it('an MQTT 5 response topic with a wildcard answers BAD_REPLY_TO on the result topic only', async () => {
    const answer = client.next('tts/result', (p) => p.includes('"resp-1"'), 10_000);
    await client.client.publishAsync('tts/say', JSON.stringify({ id: 'resp-1', text: 'Hi.' }), {
      qos: 1,
      properties: { responseTopic: 'replies/+/x', correlationData: Buffer.from('c1') },
    });
    expect(JSON.parse((await answer).toString())).toMatchObject({
      ok: false,
      error: { code: 'BAD_REPLY_TO', message: expect.stringMatching(/^response topic 'replies\/\+\/x'/) },
    });
  });
});

describe('a publish the broker refuses', () => {
  let broker: RunningMosquitto;

  beforeAll(async () => {
    // mosquitto disconnects a client that sends a packet over max_packet_size (a refusal by closing, like a
    // wildcard publish; the hub's own topic checks keep wildcards from ever reaching the broker).
    broker = await startMosquitto({ extraConfig: ['max_packet_size 4096'] });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('is dropped after the broker closed the connection on it twice, and the session recovers', async () => {
    const bus = createMqttBus({
      url: broker.url,
      clientId: 'refused-1',
      availabilityTopic: 'refused/availability',
      protocolVersion: 4,
      log: silentLog(),
    });
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'refused-watch' });
    const seen: string[] = [];
    watcher.on('message', (topic, payload) => seen.push(`${topic}=${payload.toString().slice(0, 10)}`));
    await watcher.subscribeAsync(['refused/#'], { qos: 1 });
    try {
      await bus.start();
      const big = bus.publish('refused/big', Buffer.alloc(10_000, 1), { qos: 1 });
      await expect(big).rejects.toThrow(/removed/i);
      // After the drop the bus connects for good and publishes normally.
      await expect.poll(() => bus.connected(), { timeout: 15_000 }).toBe(true);
      await bus.publish('refused/small', 'ok', { qos: 1 });
      await vi.waitFor(() => expect(seen).toContain('refused/small=ok'));
      // Published before 'small' by the same client: had 'big' got through, it would have arrived first.
      expect(seen.filter((s) => s.startsWith('refused/big'))).toEqual([]);
    } finally {
      await bus.stop();
      await watcher.endAsync();
    }
  });
});
