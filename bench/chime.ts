/**
 * Issue 18 figures: time to first audio with a chime against without, in one run, with the real Piper
 * (wyoming-piper) behind a hub on a loopback mosquitto (free port):
 * - over MQTT: `tts/say` JSON → the result's `latency_ms.first_audio` (request received → first encoded Ogg
 *   page, measured in the hub);
 * - over HTTP: POST /api/say `wait: false`, then GET the live URL → the first Ogg audio page, measured by the
 *   client from the moment the POST is sent.
 * Each run uses a fresh two-sentence text (a run number in it), so neither the cache nor the phrase cache
 * answers; runs alternate with and without the chime `ding`, half a second apart (as requests come in life,
 * so the encoder's spare process is up). Target: with a chime, first audio ≤ 50 ms after the request.
 */
import { performance } from 'node:perf_hooks';
import { startInProcessHub } from '../test/helpers/hub-inprocess.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { connectSayClient } from '../test/helpers/mqtt.js';
import { PIPER_VOICE, startWyomingPiper } from '../test/helpers/piper.js';
import { line, mean, ms, percentile, ratio } from './stats.js';
import { hasAudioPage } from './ttfa.js';

const RUNS = 7;
const PAUSE_MS = 500;

const text = (n: number): string =>
  `Announcement number ${n}: the garden gate is open. Please close it before the dog gets out.`;

/** ms from sending the POST to the first Ogg audio page on the live URL; then drains the stream. */
async function httpFirstPage(baseUrl: string, body: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, wait: false }),
  });
  const started = (await res.json()) as { url?: string };
  if (!started.url) throw new Error(`say failed: ${JSON.stringify(started)}`);
  const audio = await fetch(started.url);
  let seen = Buffer.alloc(0);
  let firstMs = 0;
  for await (const chunk of audio.body as unknown as AsyncIterable<Uint8Array>) {
    if (firstMs) continue;
    seen = Buffer.concat([seen, chunk]);
    if (hasAudioPage(seen)) firstMs = performance.now() - t0;
  }
  return firstMs;
}

const pause = () => new Promise((r) => setTimeout(r, PAUSE_MS));

/** Runs the chime benchmark and prints its lines. */
export async function benchChime(): Promise<void> {
  const [broker, piper] = await Promise.all([startMosquitto(), startWyomingPiper()]);
  const hub = await startInProcessHub(
    { engines: [{ name: 'piper', type: 'piper', url: piper.url, voice: PIPER_VOICE, timeout_s: 120 }] },
    broker.url,
  );
  const client = await connectSayClient(broker.url);
  try {
    process.stdout.write(
      '\nChimes (issue 18): time to first audio with the chime "ding" vs without, real Piper, loopback mosquitto\n',
    );
    // Warm-up: Piper loads its voice, the chime is decoded at Piper's rate, the encoder learns the format.
    for (const chime of ['ding', undefined]) {
      await client.say(
        JSON.stringify({ text: text(900), id: `w-${chime}`, ...(chime ? { chime } : {}) }),
        `w-${chime}`,
        120_000,
      );
      await pause();
    }
    const mqttFirst: Record<'with' | 'without', number[]> = { with: [], without: [] };
    const httpFirst: Record<'with' | 'without', number[]> = { with: [], without: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const which of ['with', 'without'] as const) {
        const extra = which === 'with' ? { chime: 'ding' } : {};
        const id = `b-${run}-${which}`;
        const r = await client.say(
          JSON.stringify({ text: text(run * 4 + (which === 'with' ? 0 : 1)), id, ...extra }),
          id,
          120_000,
        );
        if (r.ok !== true) throw new Error(`say failed: ${JSON.stringify(r)}`);
        mqttFirst[which].push((r.latency_ms as { first_audio: number }).first_audio);
        await pause();
        httpFirst[which].push(
          await httpFirstPage(hub.baseUrl, { text: text(run * 4 + (which === 'with' ? 2 : 3)), ...extra }),
        );
        await pause();
      }
    }
    const p50 = (v: number[]) => percentile(v, 50);
    for (const [name, figures] of [
      ['MQTT first_audio', mqttFirst],
      ['HTTP first Ogg audio page', httpFirst],
    ] as const) {
      line(`${name}, with chime, p50 / mean`, `${ms(p50(figures.with))} / ${ms(mean(figures.with))}`);
      line(`${name}, without, p50 / mean`, `${ms(p50(figures.without))} / ${ms(mean(figures.without))}`);
      line(`${name}, with ÷ without (p50)`, ratio(p50(figures.with) / p50(figures.without), 1));
      const met = p50(figures.with) <= 50 ? '  ✓' : '  ✗ (target ≤ 50 ms)';
      line(`${name} with a chime, p50`, `${ms(p50(figures.with))}${met}`);
    }
  } finally {
    await client.close();
    await hub.close();
    await piper.stop();
    await broker.stop();
  }
}
