/**
 * Issue 4 figures: time to first audio for a ten-sentence text with the real Piper (wyoming-piper), in one run:
 * - the engine's own first-sentence time (the first sentence alone, straight to wyoming-piper);
 * - the first Ogg audio page on the HTTP live stream (POST /api/say `wait: false`, then GET the URL), from the
 *   moment the POST is sent;
 * - waiting for the whole text (POST /api/say with `wait: true`), and the engine alone on the whole text.
 * Every run uses fresh sentences (a run number in each), so neither the cache nor the phrase cache answers.
 */
import { performance } from 'node:perf_hooks';
import { splitSentences } from '../src/say/sentences.js';
import { silentLog } from '../src/shared/log.js';
import { createWyomingEngine } from '../src/tts/engines/wyoming.js';
import { TEN_SENTENCES } from '../test/helpers/announcements.js';
import { startInProcessHub } from '../test/helpers/hub-inprocess.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { PIPER_VOICE, startWyomingPiper } from '../test/helpers/piper.js';
import { line, mean, ms, percentile, ratio } from './stats.js';

const RUNS = 9;

/** The ten sentences with `n` worked into each, so no run repeats a sentence. */
function freshText(n: number): string {
  return splitSentences(TEN_SENTENCES)
    .map((s, i) => s.replace(/([.!?])$/, `, number ${n * 10 + i}$1`))
    .join(' ');
}

async function post(baseUrl: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** True when `buf` holds an Ogg page with a positive granule position (a page that carries audio). */
export function hasAudioPage(buf: Buffer): boolean {
  for (let at = buf.indexOf('OggS'); at >= 0 && at + 14 <= buf.length; at = buf.indexOf('OggS', at + 1)) {
    if (buf.readBigInt64LE(at + 6) > 0n) return true;
  }
  return false;
}

/** ms from sending the POST to the first Ogg audio page read from the live URL; then drains the stream. */
async function timeToFirstPage(baseUrl: string, text: string): Promise<number> {
  const t0 = performance.now();
  const started = await post(baseUrl, { text, wait: false });
  const res = await fetch(started.url as string);
  let seen = Buffer.alloc(0);
  let firstMs = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (firstMs) continue;
    seen = Buffer.concat([seen, chunk]);
    if (hasAudioPage(seen)) firstMs = performance.now() - t0;
  }
  return firstMs;
}

/** Runs the time-to-first-audio benchmark and prints its lines. */
export async function benchTtfa(): Promise<void> {
  const [broker, piper] = await Promise.all([startMosquitto(), startWyomingPiper()]);
  const hub = await startInProcessHub(
    { engines: [{ name: 'piper', type: 'piper', url: piper.url, voice: PIPER_VOICE, timeout_s: 120 }] },
    broker.url,
  );
  const engine = createWyomingEngine({
    name: 'direct',
    type: 'piper',
    url: piper.url,
    voice: PIPER_VOICE,
    log: silentLog(),
  });
  const drain = async (text: string): Promise<number> => {
    const t0 = performance.now();
    for await (const _ of engine.synthesize({ text }, AbortSignal.timeout(120_000))) {
      // read to the end
    }
    return performance.now() - t0;
  };
  try {
    process.stdout.write('\nTime to first audio (issue 4): real Piper over Wyoming, ten sentences\n');
    await post(hub.baseUrl, { text: freshText(999), wait: true }); // warm-up: Piper loads its voice
    await drain(freshText(998));
    const firstSentence: number[] = [];
    const firstPage: number[] = [];
    const wholeHub: number[] = [];
    const wholeEngine: number[] = [];
    const hubFirstAudio: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const [head] = splitSentences(freshText(run * 4));
      firstSentence.push(await drain(head as string));
      firstPage.push(await timeToFirstPage(hub.baseUrl, freshText(run * 4 + 1)));
      const t0 = performance.now();
      const whole = await post(hub.baseUrl, { text: freshText(run * 4 + 2), wait: true });
      if (whole.ok !== true) throw new Error(`whole-text say failed: ${JSON.stringify(whole)}`);
      wholeHub.push(performance.now() - t0);
      hubFirstAudio.push((whole.latency_ms as { first_audio: number }).first_audio);
      wholeEngine.push(await drain(freshText(run * 4 + 3)));
    }
    const p50 = (v: number[]) => percentile(v, 50);
    line(
      "engine's own first-sentence time, p50 / mean",
      `${ms(p50(firstSentence))} / ${ms(mean(firstSentence))}`,
    );
    line(
      'first Ogg audio page on the live HTTP stream, p50 / mean',
      `${ms(p50(firstPage))} / ${ms(mean(firstPage))}`,
    );
    line('inside the hub: request → first encoded page (first_audio), p50', ms(p50(hubFirstAudio)));
    line('whole text through the hub (wait: true), p50', ms(p50(wholeHub)));
    line('whole text, engine alone, p50', ms(p50(wholeEngine)));
    line(
      'first page ÷ engine first sentence (target ≤ 1.2)',
      ratio(p50(firstPage) / p50(firstSentence), 1.2),
    );
    line('whole text (hub) ÷ first page (target ≥ 5)', ratio(p50(wholeHub) / p50(firstPage), 5, false));
  } finally {
    await hub.close();
    await piper.stop();
    await broker.stop();
  }
}
