/**
 * Home Assistant MQTT discovery through a real mosquitto: the device config is retained with every entity's
 * unique_id, device, origin and availability; it is republished when Home Assistant says `online`; a recorder
 * device that appears adds its entities and one that goes away is removed (`{p}`); the notify entity speaks
 * (a result on tts/result, the cache grows); the button clears the cache; with discovery off the device is cleared.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';

const CLIENT_ID = 'tts_hub_disc';
const CONFIG = `homeassistant/device/${CLIENT_ID}/config`;

type Payload = {
  dev: Record<string, unknown>;
  o: Record<string, unknown>;
  cmps: Record<string, Record<string, unknown>>;
};

const WAIT = { timeout: 10_000, interval: 50 };

/** The retained config as a new subscriber (Home Assistant after a restart) gets it. */
async function retainedConfig(url: string, topic = CONFIG): Promise<{ payload: Buffer; retain: boolean }> {
  const c = await mqtt.connectAsync(url, { clientId: `probe-${Math.random().toString(16).slice(2)}` });
  try {
    const got = new Promise<{ payload: Buffer; retain: boolean }>((resolve) =>
      c.on('message', (_t, payload, packet) => resolve({ payload, retain: packet.retain })),
    );
    await c.subscribeAsync(topic, { qos: 1 });
    return await got;
  } finally {
    await c.endAsync();
  }
}

/** The retained message on `topic`, or undefined when the broker holds none (it sends retained ones on subscribe). */
async function retainedOrNothing(url: string, topic: string): Promise<Buffer | undefined> {
  const c = await mqtt.connectAsync(url, { clientId: `probe-${Math.random().toString(16).slice(2)}` });
  try {
    let got: Buffer | undefined;
    c.on('message', (_t, payload) => {
      got = payload;
    });
    await c.subscribeAsync(topic, { qos: 1 });
    // The broker sends retained messages before it acknowledges the subscription; a round trip more is margin.
    await c.publishAsync(`probe/${Math.random()}`, '', { qos: 1 });
    return got;
  } finally {
    await c.endAsync();
  }
}

describe('MQTT discovery', () => {
  let broker: RunningMosquitto;
  let hub: InProcessHub;
  let client: SayClient;

  beforeAll(async () => {
    broker = await startMosquitto();
    client = await connectSayClient(broker.url, { extraTopics: [CONFIG, 'tts/status'] });
    hub = await startInProcessHub({ mqtt: { client_id: CLIENT_ID } }, broker.url);
  });
  afterAll(async () => {
    await client?.close();
    await hub?.close();
    await broker?.stop();
  });

  const configs = (): Payload[] =>
    client.received
      .filter((m) => m.topic === CONFIG && m.payload.length)
      .map((m) => JSON.parse(m.payload.toString()));
  /** The device config as first published; every test that reads configs waits for it. */
  const firstConfig = async (): Promise<void> => {
    await expect.poll(() => configs().length, WAIT).toBeGreaterThan(0);
  };

  it('publishes one retained device config whose entities all have unique_id, device, origin and availability', async () => {
    await firstConfig();
    const retained = await retainedConfig(broker.url);
    expect(retained.retain).toBe(true);
    const payload = JSON.parse(retained.payload.toString()) as Payload;
    expect(payload.dev).toMatchObject({ ids: [CLIENT_ID], name: 'TTS Hub' });
    expect(payload.o).toMatchObject({ name: 'tts-hub' });
    expect(Object.keys(payload.cmps)).toEqual(
      expect.arrayContaining([
        'cache_size',
        'cache_entries',
        'hit_ratio',
        'queue_depth',
        'last_latency',
        'engine_espeak',
        'recordings_size',
        'disk_free',
        'say',
        'clear_cache',
      ]),
    );
    const ids = new Set<string>();
    // Components removed earlier (a recorder device that went away) stay as `{p}` only; the live ones are checked.
    const live = Object.entries(payload.cmps).filter(([, c]) => Object.keys(c).length > 1);
    expect(live.length).toBeGreaterThanOrEqual(10);
    for (const [id, c] of live) {
      expect(c.p, id).toMatch(/^(sensor|binary_sensor|notify|button)$/);
      expect(c.unique_id, id).toBe(`${CLIENT_ID}_${id}`);
      expect(c.availability_topic, id).toBe('tts/availability');
      ids.add(c.unique_id as string);
    }
    expect(ids.size).toBe(live.length);
    expect(payload.cmps.say).toMatchObject({ p: 'notify', command_topic: 'tts/notify' });
    expect(payload.cmps.clear_cache).toMatchObject({ p: 'button', command_topic: 'tts/cache/clear' });
    expect(payload.cmps.engine_espeak).toMatchObject({ p: 'binary_sensor', state_topic: 'tts/status' });
  });

  it('republishes the same config when Home Assistant says online', async () => {
    await firstConfig();
    const before = configs().length;
    await client.client.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await expect.poll(() => configs().length, WAIT).toBeGreaterThan(before);
    expect(configs().at(-1)).toEqual(configs().at(before - 1));
  });

  it('adds the entities of a recorder device that recorded and removes them when it goes', async () => {
    // A device that only ever had an error (never recorded) gets no entities.
    const never = { device: 'hallway', state: 'error', in_progress: false, bytes: 0, error: { code: 'X' } };
    await client.client.publishAsync('recorder/hallway/status', JSON.stringify(never), {
      qos: 1,
      retain: true,
    });
    const last = { id: 'a1', file: 'x.opus', bytes: 10, duration_ms: 100, ended_at: '2026-01-01T00:00:00Z' };
    const status = { device: 'kitchen', state: 'idle', in_progress: false, bytes: 0, last };
    await client.client.publishAsync('recorder/kitchen/status', JSON.stringify(status), {
      qos: 1,
      retain: true,
    });
    await expect.poll(() => Object.keys(configs().at(-1)?.cmps ?? {}), WAIT).toContain('rec_kitchen_state');
    expect('rec_hallway_state' in (configs().at(-1)?.cmps ?? {})).toBe(false);
    await client.client.publishAsync('recorder/hallway/status', '', { qos: 1, retain: true });
    expect(configs().at(-1)?.cmps.rec_kitchen_state).toMatchObject({
      p: 'sensor',
      state_topic: 'recorder/kitchen/status',
      value_template: '{{ value_json.state }}',
    });
    await client.client.publishAsync('recorder/kitchen/status', '', { qos: 1, retain: true });
    await expect.poll(() => configs().at(-1)?.cmps.rec_kitchen_state, WAIT).toEqual({ p: 'sensor' });
    expect(configs().at(-1)?.cmps.rec_kitchen_state).toEqual({ p: 'sensor' });
    expect(configs().at(-1)?.cmps.rec_kitchen_size).toEqual({ p: 'sensor' });
  });

  it('speaks a notify message: a result on tts/result and a new cache entry', async () => {
    const h = hub;
    await firstConfig();
    const entries = h.hub.cache.stats().entries;
    const configsBefore = configs().length;
    const result = client.next('tts/result', (p) => JSON.parse(p.toString()).ok === true);
    await client.client.publishAsync('tts/notify', 'The mail has arrived.', { qos: 1 });
    const body = JSON.parse((await result).toString());
    expect(body).toMatchObject({ ok: true, engine: 'espeak', text_chars: 'The mail has arrived.'.length });
    expect(h.hub.cache.stats().entries).toBe(entries + 1);
    // The status topic follows (cache sensors read it).
    await vi.waitFor(() => {
      const entriesSeen = client.received
        .filter((m) => m.topic === 'tts/status')
        .map((m) => JSON.parse(m.payload.toString()).cache.entries);
      expect(entriesSeen).toContain(entries + 1);
    }, WAIT);
    // A status change does not touch the config: it is published only when it changes.
    expect(configs().length).toBe(configsBefore);
  });

  it('clears the cache when the button is pressed, and the status shows it', async () => {
    const h = hub;
    // Something to clear, whatever ran before.
    const said = await client.say(
      JSON.stringify({ id: 'to-clear', text: 'Something to clear.' }),
      'to-clear',
    );
    expect(said).toMatchObject({ ok: true });
    expect(h.hub.cache.stats().entries).toBeGreaterThan(0);
    await client.client.publishAsync('tts/cache/clear', 'PRESS', { qos: 1 });
    await expect.poll(() => h.hub.cache.stats().entries, WAIT).toBe(0);
    await expect
      .poll(() => {
        const last = client.received.filter((m) => m.topic === 'tts/status').at(-1);
        return last && JSON.parse(last.payload.toString()).cache.entries;
      }, WAIT)
      .toBe(0);
  });

  it('clears the device when the hub restarts with discovery off', async () => {
    // A hub of its own (its own device), so the shared hub stays as the other tests expect it.
    const clientId = `${CLIENT_ID}_off`;
    const topic = `homeassistant/device/${clientId}/config`;
    await client.client.subscribeAsync(topic, { qos: 1 });
    const published = client.next(topic, (p) => p.length > 0, WAIT.timeout);
    const first = await startInProcessHub({ mqtt: { client_id: clientId } }, broker.url);
    try {
      await published;
    } finally {
      await first.close();
    }
    const cleared = client.next(topic, (p) => p.length === 0, WAIT.timeout);
    const off = await startInProcessHub(
      { mqtt: { client_id: clientId }, topics: { discovery: false } },
      broker.url,
    );
    try {
      await cleared;
      // A new subscriber (Home Assistant after a restart) finds nothing retained.
      expect(await retainedOrNothing(broker.url, topic)).toBeUndefined();
    } finally {
      await off.close();
    }
  });
});
