/**
 * Inside the add-on: with SUPERVISOR_TOKEN set and no broker configured, the hub takes the MQTT broker from the
 * Supervisor's mqtt service, and hands players URLs on the host's LAN address from the Supervisor's network info.
 * The Supervisor is the API-faithful stand-in in test/servers/home-assistant.ts; the broker is a real mosquitto.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient } from '../helpers/mqtt.js';
import { type HomeAssistantStandIn, startHomeAssistant } from '../servers/home-assistant.js';

describe('Supervisor services', () => {
  let broker: RunningMosquitto;
  let supervisor: HomeAssistantStandIn;

  beforeAll(async () => {
    broker = await startMosquitto();
    supervisor = await startHomeAssistant({
      token: 'sup-token',
      mqtt: { host: '127.0.0.1', port: broker.port },
      hostAddress: '192.168.77.5',
    });
  });
  afterAll(async () => {
    await supervisor?.stop();
    await broker?.stop();
  });

  it('uses the Supervisor mqtt service and the host address for audio URLs', async () => {
    const hub = await startHub(
      { http: { external_url: '' } },
      {
        env: { SUPERVISOR_TOKEN: 'sup-token', TTS_HUB_SUPERVISOR_URL: supervisor.url, TTS_HUB_MQTT_URL: '' },
      },
    );
    try {
      const started = hub.logs().find((l) => l.msg === 'hub started') as { source: string; mqtt: string };
      expect(started).toMatchObject({ source: 'supervisor', mqtt: `mqtt://127.0.0.1:${broker.port}` });
      const asked = supervisor.calls.filter((c) => c.path === '/services/mqtt' || c.path === '/network/info');
      expect(asked.map((c) => [c.path, c.authorization])).toEqual(
        expect.arrayContaining([
          ['/services/mqtt', 'Bearer sup-token'],
          ['/network/info', 'Bearer sup-token'],
        ]),
      );
      const client = await connectSayClient(broker.url);
      const result = await client.say('{"text": "Dinner is ready!", "id": "sup-1"}', 'sup-1');
      await client.close();
      expect(result).toMatchObject({ ok: true });
      expect(result.url).toMatch(
        new RegExp(`^http://192\\.168\\.77\\.5:${hub.port}/api/audio/[0-9a-f]{64}\\.opus$`),
      );
    } finally {
      expect(await hub.stop()).toBe(0);
      hub.cleanup();
    }
  });
});
