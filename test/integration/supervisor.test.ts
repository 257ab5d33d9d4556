/**
 * Inside the add-on: with SUPERVISOR_TOKEN set and no broker configured, the hub takes the MQTT broker from the
 * Supervisor's mqtt service, and hands players URLs on the host's LAN address (`/network/info`) and the host port
 * the add-on's HTTP port is published on (`/addons/self/info`). The Supervisor is the API-faithful stand-in in
 * test/servers/home-assistant.ts, which refuses what the real one refuses for the grants in config.yaml; the broker
 * is a real mosquitto.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePublicBaseUrl } from '../../src/config/public-url.js';
import { startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';
import { type HomeAssistantStandIn, startHomeAssistant } from '../servers/home-assistant.js';

describe('Supervisor services', () => {
  let broker: RunningMosquitto;
  let supervisor: HomeAssistantStandIn;
  let port: number;

  beforeAll(async () => {
    broker = await startMosquitto();
    port = await freePort();
    supervisor = await startHomeAssistant({
      token: 'sup-token',
      mqtt: { host: '127.0.0.1', port: broker.port },
      hostAddress: '192.168.77.5',
      published: { [`${port}/tcp`]: 18099, '10210/tcp': 10210 },
    });
  });
  afterAll(async () => {
    await supervisor?.stop();
    await broker?.stop();
  });

  it('uses the mqtt service, the host address and the published port, each call allowed by config.yaml', async () => {
    const hub = await startHub(
      { http: { external_url: '', port } },
      {
        env: { SUPERVISOR_TOKEN: 'sup-token', TTS_HUB_SUPERVISOR_URL: supervisor.url, TTS_HUB_MQTT_URL: '' },
      },
    );
    try {
      const started = hub.logs().find((l) => l.msg === 'hub started') as { source: string; mqtt: string };
      expect(started).toMatchObject({ source: 'supervisor', mqtt: `mqtt://127.0.0.1:${broker.port}` });
      expect(supervisor.calls.map((c) => [c.path, c.authorization, c.status])).toEqual(
        expect.arrayContaining([
          ['/services/mqtt', 'Bearer sup-token', 200],
          ['/network/info', 'Bearer sup-token', 200],
          ['/addons/self/info', 'Bearer sup-token', 200],
        ]),
      );
      const refused = supervisor.calls.filter((c) => c.status !== 200);
      expect(refused, 'calls the Supervisor refused with the grants of config.yaml').toEqual([]);
      const client = await connectSayClient(broker.url);
      const result = await client.say('{"text": "Dinner is ready!", "id": "sup-1"}', 'sup-1');
      await client.close();
      expect(result).toMatchObject({ ok: true });
      expect(result.url).toMatch(/^http:\/\/192\.168\.77\.5:18099\/api\/audio\/[0-9a-f]{64}\.opus$/);
    } finally {
      expect(await hub.stop()).toBe(0);
      hub.cleanup();
    }
  });

  it('without hassio_api the Supervisor refuses /network/info (403) and the URL is not the host address', async () => {
    const strict = await startHomeAssistant({
      token: 't',
      hostAddress: '192.168.77.5',
      grants: { hassio_api: false, hassio_role: 'default', homeassistant_api: true },
    });
    try {
      const url = await resolvePublicBaseUrl({
        externalUrl: '',
        httpPort: 8099,
        supervisorUrl: strict.url,
        supervisorToken: 't',
        log: pino({ level: 'silent' }),
      });
      expect(strict.calls.find((c) => c.path === '/network/info')?.status).toBe(403);
      expect(url).not.toContain('192.168.77.5');
    } finally {
      await strict.stop();
    }
  });

  it('warns when the HTTP port is not published on the host (speakers could not fetch audio)', async () => {
    const unpublished = await startHomeAssistant({
      token: 't',
      hostAddress: '192.168.77.5',
      published: { '8099/tcp': null, '10210/tcp': 10210 },
    });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    try {
      const url = await resolvePublicBaseUrl({
        externalUrl: '',
        httpPort: 8099,
        supervisorUrl: unpublished.url,
        supervisorToken: 't',
        log: pino({ level: 'warn' }, sink),
      });
      expect(url).toBe('http://192.168.77.5:8099');
      expect(lines.join('')).toContain('the HTTP port is not published on the host');
    } finally {
      await unpublished.stop();
    }
  });
});
