/**
 * A Rhasspy site's audio server for tests, on a real MQTT broker: takes
 * `hermes/audioServer/<siteId>/playBytes/<requestId>` (a WAV), "plays" it (optionally for its duration), then
 * publishes `hermes/audioServer/<siteId>/playFinished` `{id: requestId, sessionId: ""}`, as
 * rhasspy/rhasspy-speakers-cli-hermes does with the messages of rhasspy/rhasspy-hermes
 * `rhasspyhermes/audioserver.py` (AudioPlayBytes, AudioPlayFinished).
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { AudioFormat } from '../../src/audio/format.js';
import { parseWavBuffer } from '../../src/audio/wav.js';

/** One WAV the site received. */
export interface ReceivedPlay {
  requestId: string;
  bytes: number;
  format: AudioFormat;
  pcm: Buffer;
  /** Date.now() when it arrived and when playFinished went out. */
  receivedAt: number;
  finishedAt?: number;
}

/** A running test site. */
export interface HermesSite {
  plays: ReceivedPlay[];
  close(): Promise<void>;
}

/** Connects a site `siteId` to `url`; `realtime` waits each WAV's duration before answering. */
export async function startHermesSite(
  url: string,
  siteId: string,
  opts: { realtime?: boolean } = {},
): Promise<HermesSite> {
  const client: MqttClient = await mqtt.connectAsync(url, { clientId: `site-${siteId}-${Date.now()}` });
  const plays: ReceivedPlay[] = [];
  const prefix = `hermes/audioServer/${siteId}/playBytes/`;
  client.on('message', (topic, payload) => {
    if (!topic.startsWith(prefix)) return;
    const requestId = topic.slice(prefix.length);
    const receivedAt = Date.now();
    parseWavBuffer(payload)
      .then(async ({ format, pcm }) => {
        const play: ReceivedPlay = { requestId, bytes: payload.length, format, pcm, receivedAt };
        plays.push(play);
        if (opts.realtime) {
          const ms = (pcm.length / (format.rateHz * format.widthBytes * format.channels)) * 1000;
          await new Promise((r) => setTimeout(r, ms));
        }
        play.finishedAt = Date.now();
        await client.publishAsync(
          `hermes/audioServer/${siteId}/playFinished`,
          JSON.stringify({ id: requestId, sessionId: '' }),
        );
      })
      .catch(() => {});
  });
  await client.subscribeAsync(`${prefix}+`, { qos: 1 });
  return { plays, close: () => client.endAsync() };
}
