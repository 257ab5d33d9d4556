/**
 * Oversized say messages against the real hub process and a real mosquitto. Before issue 10 a 50 MB `tts/say`
 * froze the hub 13 s and left its RSS at 2 GB: the payload was decoded and parsed before any size check.
 * Now the hub asks the broker (MQTT 5 Maximum Packet Size, `limits.mqtt_max_packet_kb`) not to send it packets
 * that big, and checks every say message against `limits.max_payload_kb` before decoding it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peakRssBytes, probeHealth, rssBytes } from '../helpers/attack.js';
import { type HubProcess, startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';

const MB = 1024 * 1024;

describe('oversized say messages on MQTT', () => {
  let broker: RunningMosquitto;
  let hub: HubProcess;
  let client: SayClient;
  const pid = (): number => hub.child.pid as number;

  beforeAll(async () => {
    broker = await startMosquitto();
    hub = await startHub({
      mqtt: { url: broker.url },
      topics: { hermes: true },
      limits: { max_payload_kb: 64, mqtt_max_packet_kb: 512 },
    });
    client = await connectSayClient(broker.url, { extraTopics: ['tts/availability'] });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await hub?.stop();
    hub?.cleanup();
    await broker?.stop();
  });

  it('a 50 MB tts/say never reaches the hub: it stays online, responsive and small, and answers the next say', async () => {
    const before = await rssBytes(pid());
    const probe = probeHealth(hub.baseUrl);
    const big = Buffer.alloc(50 * MB, 'a');
    await client.client.publishAsync('tts/say', big, { qos: 1 });
    const result = await client.say(JSON.stringify({ text: 'Still here.', id: 'after-big' }), 'after-big');
    expect(result).toMatchObject({ id: 'after-big', ok: true });
    await new Promise((r) => setTimeout(r, 1000)); // proves a negative: the health probe sees no stall after it
    const health = await probe.stop();
    expect(health.failures).toBe(0);
    expect(health.maxMs).toBeLessThan(1000);
    expect((await peakRssBytes(pid())) - before).toBeLessThan(40 * MB);
    // Never knocked off the broker: no `offline` since the test client subscribed.
    const availability = client.received.filter((m) => m.topic === 'tts/availability');
    expect(availability.map((m) => m.payload.toString())).not.toContain('offline');
    // Nothing answered it (the broker dropped it for the hub), and nothing was logged as a crash.
    expect(hub.logs().some((l) => l.level === 50 || l.level === 60)).toBe(false);
  });

  it('a 200 kB tts/say is refused with PAYLOAD_TOO_LARGE before it is decoded', async () => {
    const answer = client.next('tts/result', (p) => JSON.parse(p.toString()).ok === false);
    // Invalid UTF-8 inside: a decoder that ran first would answer INVALID_UTF8 instead.
    const payload = Buffer.concat([
      Buffer.from('{"text": "'),
      Buffer.alloc(200 * 1024, 0xff),
      Buffer.from('"}'),
    ]);
    await client.client.publishAsync('tts/say', payload, { qos: 1 });
    const result = JSON.parse((await answer).toString());
    expect(result.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(result.error.message).toMatch(/limits\.max_payload_kb/);
    // Logged once (the log line may reach stdout just after the result).
    const refusals = () =>
      hub.logs().filter((l) => l.msg === 'say request refused' && l.code === 'PAYLOAD_TOO_LARGE');
    await expect
      .poll(() => refusals().length > 0, { timeout: 10_000, message: 'the refusal in the log' })
      .toBe(true);
    expect(refusals()).toHaveLength(1);
  });

  it('oversized notify and hermes/tts/say messages are refused too, and a normal one still speaks', async () => {
    const refused = client.next(
      'tts/result',
      (p) => JSON.parse(p.toString()).error?.code === 'PAYLOAD_TOO_LARGE',
    );
    await client.client.publishAsync('tts/notify', Buffer.alloc(100 * 1024, 'n'), { qos: 1 });
    expect(JSON.parse((await refused).toString()).error.message).toMatch(/max_payload_kb/);
    await client.client.publishAsync(
      'hermes/tts/say',
      JSON.stringify({ text: 'h'.repeat(100 * 1024), siteId: 'den', id: 'h-big' }),
      { qos: 1 },
    );
    await expect
      .poll(() => hub.logs().some((l) => l.msg === 'hermes/tts/say refused: over limits.max_payload_kb'), {
        timeout: 10_000,
        message: 'the hermes refusal in the log',
      })
      .toBe(true);
    const ok = client.next('tts/result', (p) => JSON.parse(p.toString()).ok === true);
    await client.client.publishAsync('tts/notify', 'The washing is done.', { qos: 1 });
    expect(JSON.parse((await ok).toString())).toMatchObject({ ok: true, text_chars: 20 });
  });
});
