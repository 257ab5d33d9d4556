/**
 * Issue 2 figures: cache-hit latency (tts/say → tts/result) next to a plain MQTT round trip through the same
 * broker, and miss latency next to calling the same engine and ffmpeg directly. Ratios from one run.
 */

import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import type { AudioChunk } from '../src/audio/format.js';
import { startLiveEncoder } from '../src/say/live-encoder.js';
import { silentLog } from '../src/shared/log.js';
import { createEspeakEngine } from '../src/tts/engines/espeak.js';
import { startInProcessHub } from '../test/helpers/hub-inprocess.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { corpus } from './corpus.js';
import { line, mean, ms, percentile, ratio } from './stats.js';

async function roundTrips(
  url: string,
  n: number,
  send: (c: mqtt.MqttClient, i: number) => Promise<void>,
  topic: string,
): Promise<number[]> {
  const c = await mqtt.connectAsync(url, { clientId: `bench-${Math.random()}` });
  // Like the hub, the bench client turns Nagle off so both sides of the comparison measure the broker, not TCP.
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  await c.subscribeAsync(topic, { qos: 1 });
  const times: number[] = [];
  let resolveNext: (() => void) | undefined;
  c.on('message', () => resolveNext?.());
  for (let i = 0; i < n; i++) {
    const got = new Promise<void>((r) => {
      resolveNext = r;
    });
    const t0 = performance.now();
    await send(c, i);
    await got;
    times.push(performance.now() - t0);
  }
  await c.endAsync();
  return times;
}

/** Runs the main-path benchmark and prints its lines. */
export async function benchMainPath(): Promise<void> {
  const broker = await startMosquitto();
  const hub = await startInProcessHub({}, broker.url);
  try {
    process.stdout.write('\nMain path (issue 2): espeak-ng, loopback mosquitto\n');
    const warm = 'The washing machine has finished.';
    await roundTrips(
      broker.url,
      1,
      (c) => c.publishAsync('tts/say', warm, { qos: 1 }).then(() => {}),
      'tts/result',
    );
    const n = 300;
    const plain = await roundTrips(
      broker.url,
      n,
      (c, i) => c.publishAsync('bench/echo', String(i), { qos: 1 }).then(() => {}),
      'bench/echo',
    );
    const hits = await roundTrips(
      broker.url,
      n,
      (c) => c.publishAsync('tts/say', warm, { qos: 1 }).then(() => {}),
      'tts/result',
    );
    line('plain MQTT round trip p50 / p99', `${ms(percentile(plain, 50))} / ${ms(percentile(plain, 99))}`);
    line(
      'cache hit say→result p50 / p99 (target ≤ 3 / ≤ 15 ms)',
      `${ms(percentile(hits, 50))} / ${ms(percentile(hits, 99))}`,
    );
    line('cache hit p50 ÷ plain round trip p50', ratio(percentile(hits, 50) / percentile(plain, 50)));

    const texts = corpus().slice(0, 12);
    const engine = createEspeakEngine({ name: 'espeak', log: silentLog() });
    const direct: number[] = [];
    const viaHub: number[] = [];
    for (const [i, text] of texts.entries()) {
      const unique = `${text} (${i} direct)`;
      const t0 = performance.now();
      const pcm: AudioChunk[] = [];
      for await (const chunk of engine.synthesize({ text: unique }, AbortSignal.timeout(20_000)))
        pcm.push(chunk);
      const t1 = performance.now();
      async function* replay() {
        yield* pcm;
      }
      const signal = AbortSignal.timeout(20_000);
      const encoder = startLiveEncoder({ settings: { format: 'opus', bitrateKbps: 32 }, signal });
      for await (const _ of encoder.encode(replay())) {
        // drain
      }
      direct.push(performance.now() - t0);
      void t1;
      const hubText = `${text} (${i} hub)`;
      const h = await roundTrips(
        broker.url,
        1,
        (c) => c.publishAsync('tts/say', hubText, { qos: 1 }).then(() => {}),
        'tts/result',
      );
      viaHub.push(h[0] as number);
    }
    line('miss: engine + ffmpeg called directly, mean', ms(mean(direct)));
    line('miss: tts/say → tts/result through the hub, mean', ms(mean(viaHub)));
    line('miss: hub ÷ direct (target ≤ 1.0)', ratio(mean(viaHub) / mean(direct), 1.0));
  } finally {
    await hub.close();
    await broker.stop();
  }
}
