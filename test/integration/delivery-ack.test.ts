/**
 * The mqtt.js behaviour the hub's manual PUBACK relies on (src/mqtt/manual-ack.ts), checked against mosquitto,
 * so an mqtt.js upgrade that changes it fails here:
 * - holding `handleMessage`'s callback (mqtt.js's documented way to delay a PUBACK) stalls every later packet,
 *   the PUBACK of the client's own QoS 1 publish included: waiting for a result's PUBACK there deadlocks;
 * - a request held by the bus (`manualAck`) stalls nothing, is redelivered (DUP) when the client reconnects
 *   without having acknowledged it, and is not redelivered once acknowledged.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMqttBus, type MqttBus } from '../../src/mqtt/client.js';
import { silentLog } from '../../src/shared/log.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('manual PUBACK on mqtt.js', () => {
  let broker: RunningMosquitto;
  let publisher: mqtt.MqttClient;

  beforeAll(async () => {
    broker = await startMosquitto();
    publisher = await mqtt.connectAsync(broker.url, { clientId: 'ack-publisher', protocolVersion: 5 });
  });
  afterAll(async () => {
    await publisher?.endAsync();
    await broker?.stop();
  });

  it("holding handleMessage's callback stalls later messages and the PUBACK of the client's own publish", async () => {
    const held = await mqtt.connectAsync(broker.url, {
      clientId: 'ack-held',
      clean: false,
      protocolVersion: 5,
    });
    const arrived: string[] = [];
    let release: (() => void) | undefined;
    held.handleMessage = (packet, callback) => {
      arrived.push(packet.payload.toString());
      if (packet.payload.toString() === 'first') release = () => callback();
      else callback();
    };
    await held.subscribeAsync('stall/req', { qos: 1 });
    await publisher.publishAsync('stall/req', 'first', { qos: 1 });
    await publisher.publishAsync('stall/req', 'second', { qos: 1 });
    let ownAcked = false;
    const own = held.publishAsync('stall/result', 'r', { qos: 1 }).then(() => {
      ownAcked = true;
    });
    await sleep(800); // proves a negative: 'second' and the own PUBACK do not get through while 'first' is held
    expect(arrived).toEqual(['first']);
    expect(ownAcked).toBe(false);
    release?.();
    await own;
    await vi.waitFor(() => expect(arrived).toEqual(['first', 'second']));
    await held.endAsync();
  });

  it('a request held by the bus stalls nothing, comes back (DUP) unacknowledged, and not once acknowledged', async () => {
    const got: Array<{ payload: string; dup: boolean; ack: () => boolean }> = [];
    const makeBus = async (): Promise<MqttBus> => {
      const bus = createMqttBus({
        url: broker.url,
        clientId: 'ack-bus',
        availabilityTopic: 'ack/availability',
        protocolVersion: 5,
        log: silentLog(),
      });
      await bus.subscribe(
        'ack/req',
        1,
        (_t, payload, packet, ack) => {
          got.push({ payload: payload.toString(), dup: packet.dup, ack });
        },
        { manualAck: true },
      );
      await bus.start();
      return bus;
    };
    let bus = await makeBus();
    await publisher.publishAsync('ack/req', 'one', { qos: 1 });
    await publisher.publishAsync('ack/req', 'two', { qos: 1 });
    const t0 = performance.now();
    await bus.publish('ack/result', 'r', { qos: 1 }); // its PUBACK is not stuck behind the held requests
    expect(performance.now() - t0).toBeLessThan(500);
    await vi.waitFor(() => expect(got.map((g) => g.payload)).toEqual(['one', 'two']));
    expect(got[1]?.ack()).toBe(true); // 'two' acknowledged, 'one' not
    // No wait needed: stop() awaits the PUBACK of its own QoS 1 'offline', which the broker handles after ours.
    await bus.stop();
    expect(got[0]?.ack()).toBe(false); // its connection is gone: the broker keeps it
    got.length = 0;
    bus = await makeBus();
    await vi.waitFor(() => expect(got.length).toBeGreaterThan(0), { timeout: 5000 });
    await sleep(300); // proves a negative: 'two', acknowledged, does not come back after 'one'
    expect(got.map((g) => [g.payload, g.dup])).toEqual([['one', true]]);
    got[0]?.ack();
    await bus.stop();
    got.length = 0;
    bus = await makeBus();
    await sleep(800); // proves a negative: nothing is redelivered once acknowledged
    expect(got).toEqual([]);
    await bus.stop();
  });
});
