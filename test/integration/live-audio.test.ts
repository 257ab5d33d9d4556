/**
 * Issue 4 on real parts (wyoming-piper, espeak-ng, ffmpeg, mosquitto, HTTP): the audio URL streams while
 * Piper speaks and several listeners get the same bytes; afterwards the same URL serves the cached file;
 * identical requests share one synthesis; mp3 and wav last as long as opus; Piper and espeak-ng come out
 * equally loud with `loudnorm`; a cached sentence is reused inside a new text without a gap.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import { TEN_SENTENCES } from '../helpers/announcements.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { decodesCleanly, loudnessLufs } from '../helpers/loudness.js';
import type { SayClient } from '../helpers/mqtt.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../helpers/piper.js';

type Json = Record<string, unknown>;

async function post(baseUrl: string, body: Json): Promise<Json> {
  const res = await fetch(`${baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Json;
}

/** Reads a whole HTTP body; `onFirst` runs when the first bytes arrive. */
async function readAll(url: string, onFirst?: () => void) {
  const res = await fetch(url);
  const parts: Buffer[] = [];
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (!parts.length) onFirst?.();
    parts.push(Buffer.from(chunk));
  }
  return { res, body: Buffer.concat(parts) };
}

describe('live audio, single-flight, formats, loudness and phrase reuse', () => {
  let piper: RunningPiper;
  let fx: HubFixture;
  let client: SayClient;
  let dir: string;
  const save = (name: string, buf: Buffer): string => {
    const file = join(dir, name);
    writeFileSync(file, buf);
    return file;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'live-audio-'));
    piper = await startWyomingPiper();
    fx = await startHubFixture({
      engines: [
        { name: 'piper', type: 'piper', url: piper.url, voice: PIPER_VOICE, loudnorm: true },
        { name: 'espeak', type: 'espeak', loudnorm: true },
        // `command` set: one espeak-ng process per say (the CLI), whose audio for a sentence is the same bytes
        // every time, as the joined-duration check below needs; a warm espeak-ng varies by a few ms of pause.
        { name: 'plain', type: 'espeak', command: 'espeak-ng' },
      ],
    });
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
    await piper?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams the URL live to two listeners at once, then serves the same bytes as a cached file', async () => {
    const started = await post(fx.url, { text: TEN_SENTENCES, wait: false, id: 'live-1' });
    expect(started).toMatchObject({ id: 'live-1', ok: true, live: true, engine: 'piper', format: 'opus' });
    const url = started.url as string;
    let late: Promise<Awaited<ReturnType<typeof readAll>>> | undefined;
    // The second listener joins once the first has bytes: it must get the bytes so far, then the rest.
    const first = await readAll(url, () => {
      late = readAll(url);
    });
    const second = await (late as Promise<Awaited<ReturnType<typeof readAll>>>);
    for (const r of [first, second]) {
      expect(r.res.status).toBe(200);
      expect(r.res.headers.get('content-type')).toBe('audio/ogg');
      expect(r.res.headers.get('cache-control')).toBe('no-store');
      expect(r.res.headers.get('content-length')).toBeNull();
    }
    expect(second.body.equals(first.body)).toBe(true);
    const file = save('live.opus', first.body);
    expect(await decodesCleanly(file)).toBe(true);
    const probe = await ffprobe(file);
    expect(probe.codec).toBe('opus');
    expect(probe.durationMs).toBeGreaterThan(10_000);

    const after = await fetch(url);
    expect(after.headers.get('cache-control')).toContain('immutable');
    expect(Number(after.headers.get('content-length'))).toBe(first.body.length);
    expect(Buffer.from(await after.arrayBuffer()).equals(first.body)).toBe(true);
    const range = await fetch(url, { headers: { Range: 'bytes=0-99' } });
    expect(range.status).toBe(206);
    await range.arrayBuffer();
    // Asked again: a cache hit, no engine.
    expect(await client.say(JSON.stringify({ text: TEN_SENTENCES, id: 'live-2' }), 'live-2')).toMatchObject({
      ok: true,
      cached: true,
      url,
      bytes: first.body.length,
    });
  });

  it('shares one synthesis between identical requests in flight', async () => {
    const before = fx.hub.sayService.stats();
    const text = 'The garage door is still open. It is getting dark.';
    const [a, b] = await Promise.all([
      client.say(JSON.stringify({ text, id: 'sf-1' }), 'sf-1'),
      client.say(JSON.stringify({ text, id: 'sf-2' }), 'sf-2'),
    ]);
    expect(a).toMatchObject({ ok: true, engine: 'piper' });
    // The result reports when the first encoded audio existed, before the whole synthesis ended.
    const latency = a.latency_ms as { total: number; first_audio: number };
    expect(latency.first_audio).toBeGreaterThan(0);
    expect(latency.first_audio).toBeLessThan(latency.total);
    expect(b).toMatchObject({ ok: true, engine: 'piper', url: a.url, bytes: a.bytes });
    const after = fx.hub.sayService.stats();
    expect(after.engineRuns.piper).toBe((before.engineRuns.piper ?? 0) + 1);
    expect(after.sharedRuns).toBe(before.sharedRuns + 1);
  });

  it('answers mp3 and wav that decode and last as long as the opus answer; a hit runs no ffmpeg', async () => {
    const say = (text: string, format: string, id: string) =>
      client.say(JSON.stringify({ text, format, id }), id);
    const fetchFile = async (r: Json, name: string) =>
      save(name, Buffer.from(await (await fetch(r.url as string)).arrayBuffer()));
    // Derived from the cached opus: no engine run.
    const text = 'Mail has arrived. It is in the box by the gate.';
    const opus = await say(text, 'opus', 'f-opus');
    const runs = fx.hub.sayService.stats().engineRuns.piper;
    const mp3 = await say(text, 'mp3', 'f-mp3');
    const wav = await say(text, 'wav', 'f-wav');
    expect(fx.hub.sayService.stats().engineRuns.piper).toBe(runs);
    const opusMs = (await ffprobe(await fetchFile(opus, 'a.opus'))).durationMs;
    for (const [r, name, codec] of [
      [mp3, 'a.mp3', 'mp3'],
      [wav, 'a.wav', 'pcm_s16le'],
    ] as const) {
      expect(r).toMatchObject({ ok: true, cached: true });
      const file = await fetchFile(r, name);
      const probe = await ffprobe(file);
      expect(probe.codec).toBe(codec);
      expect(await decodesCleanly(file)).toBe(true);
      expect(Math.abs(probe.durationMs - opusMs)).toBeLessThanOrEqual(50);
    }
    const spawns = ffmpegSpawnCount();
    expect(await say(text, 'mp3', 'f-mp3-again')).toMatchObject({ ok: true, cached: true, url: mp3.url });
    expect(ffmpegSpawnCount()).toBe(spawns);
    // Encoded live in the asked format (nothing cached yet): still as long as the opus of the same speech.
    const fresh = 'The kids bedtime is in fifteen minutes.';
    const liveMp3 = await say(fresh, 'mp3', 'g-mp3');
    const liveWav = await say(fresh, 'wav', 'g-wav');
    const derivedOpus = await say(fresh, 'opus', 'g-opus');
    expect(liveMp3).toMatchObject({ ok: true, cached: false });
    const freshOpusMs = (await ffprobe(await fetchFile(derivedOpus, 'b.opus'))).durationMs;
    for (const [r, name] of [
      [liveMp3, 'b.mp3'],
      [liveWav, 'b.wav'],
    ] as const) {
      const file = await fetchFile(r, name);
      expect(await decodesCleanly(file)).toBe(true);
      expect(Math.abs((await ffprobe(file)).durationMs - freshOpusMs)).toBeLessThanOrEqual(50);
    }
  });

  it('brings Piper and espeak-ng to the same loudness with loudnorm', async () => {
    const text = 'The front door has been open for ten minutes. Please close it before you leave.';
    const levels: Record<string, number> = {};
    for (const engine of ['piper', 'espeak', 'plain']) {
      const r = await client.say(
        JSON.stringify({ text, engine, format: 'wav', id: `l-${engine}` }),
        `l-${engine}`,
      );
      expect(r).toMatchObject({ ok: true, engine });
      const file = save(`${engine}.wav`, Buffer.from(await (await fetch(r.url as string)).arrayBuffer()));
      levels[engine] = await loudnessLufs(file);
    }
    expect(Math.abs((levels.piper as number) - (levels.espeak as number))).toBeLessThan(1);
    expect(Math.abs((levels.piper as number) + 23)).toBeLessThan(1.5);
    // Without loudnorm espeak-ng is not at the target: the normalization did something.
    expect(Math.abs((levels.plain as number) + 23)).toBeGreaterThan(1.5);
  });

  it('reuses a cached sentence inside a new text, joined without a gap', async () => {
    const say = (body: Json, id: string) => client.say(JSON.stringify({ ...body, id, engine: 'plain' }), id);
    await say({ text: 'Welcome home! The heating has been switched on.' }, 'p-1');
    const before = fx.hub.sayService.stats();
    const reused = await say({ text: 'Welcome home! The lights in the hall are on.' }, 'p-2');
    const after = fx.hub.sayService.stats();
    expect(reused).toMatchObject({ ok: true, cached: false });
    expect(after.phraseHits).toBe(before.phraseHits + 1);
    expect(after.engineRequests.plain).toBe((before.engineRequests.plain ?? 0) + 1);
    // The joined audio is exactly its two sentences back to back: nothing inserted between them.
    const greeting = await say({ text: 'Welcome home!', cache: false }, 'p-3');
    const rest = await say({ text: 'The lights in the hall are on.', cache: false }, 'p-4');
    const sum = (greeting.duration_ms as number) + (rest.duration_ms as number);
    expect(Math.abs((reused.duration_ms as number) - sum)).toBeLessThanOrEqual(2);
    const file = save('reused.opus', Buffer.from(await (await fetch(reused.url as string)).arrayBuffer()));
    expect(await decodesCleanly(file)).toBe(true);
  });
});
