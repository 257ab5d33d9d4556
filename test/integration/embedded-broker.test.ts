/**
 * The embedded aedes broker (used when no broker answers on 127.0.0.1:1883; on machines where one does, the
 * hub-level test takes the "local" branch instead): it accepts MQTT 3.1.1 clients, routes QoS 1 messages and
 * stops cleanly.
 */
import mqtt from 'mqtt';
import { expect, it } from 'vitest';
import { chooseBroker, startEmbeddedBroker, tcpAnswers } from '../../src/mqtt/broker.js';
import { silentLog } from '../../src/shared/log.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

it('routes a QoS 1 message between two clients and frees its port on stop', async () => {
  const port = await freePort();
  const broker = await startEmbeddedBroker('127.0.0.1', port, silentLog());
  expect(broker.url).toBe(`mqtt://127.0.0.1:${port}`);
  const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  await sub.subscribeAsync('tts/say', { qos: 1 });
  const got = new Promise<string>((resolve) => sub.on('message', (_t, p) => resolve(p.toString())));
  await pub.publishAsync('tts/say', 'Hello from the embedded broker.', { qos: 1 });
  expect(await got).toBe('Hello from the embedded broker.');
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  await broker.stop();
  expect(await tcpAnswers('127.0.0.1', port)).toBe(false);
});

const noBroker = {
  url: '',
  username: '',
  password: '',
  supervisorUrl: 'http://127.0.0.1:1',
  supervisorToken: undefined,
};

it('chooses a local broker that answers, else starts the embedded one on that port', async () => {
  const log = silentLog();
  const mosquitto = await startMosquitto();
  const local = await chooseBroker({ ...noBroker, log, localPort: mosquitto.port });
  expect(local).toEqual({ choice: { url: `mqtt://127.0.0.1:${mosquitto.port}`, source: 'local' } });
  await mosquitto.stop();

  const port = await freePort();
  const chosen = await chooseBroker({ ...noBroker, log, localPort: port });
  expect(chosen.choice).toEqual({ url: `mqtt://127.0.0.1:${port}`, source: 'embedded' });
  expect(await tcpAnswers('127.0.0.1', port)).toBe(true);
  await chosen.embedded?.stop();
});
