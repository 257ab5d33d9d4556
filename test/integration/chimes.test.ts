/**
 * Issue 18, chimes on real parts (espeak-ng, ffmpeg, ffprobe, mosquitto, HTTP): a say with a chime before and
 * after is one Ogg file as long as chime + gap + speech + gap + chime (positive and negative offsets); the
 * repeat is a cache hit without ffmpeg; replacing a user chime file changes the key; unknown and broken chimes
 * fail only their request; every input (HTTP, MQTT JSON, notify data) takes chime fields.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import { BUILTIN_CHIMES_DIR, createChimeLibrary } from '../../src/chimes/library.js';
import { DEFAULT_MIX_FORMAT } from '../../src/say/chimes.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';

type Json = Record<string, unknown>;
const TEXT = 'The laundry is done.';

/** Writes a sine tone of `seconds` at `hz` as a WAV (or any format by extension) with ffmpeg. */
function tone(path: string, seconds: number, hz: number): void {
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi'],
    ...['-i', `sine=frequency=${hz}:sample_rate=44100:duration=${seconds}`, '-y', path],
  ]);
}

describe('chimes around speech', () => {
  let fx: HubFixture;
  let client: SayClient;
  let scratch: string;
  let chimesDir: string;

  const post = async (body: Json): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${fx.url}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const durationOf = async (url: string): Promise<number> => {
    const audio = Buffer.from(await (await fetch(url)).arrayBuffer());
    return (await ffprobe(audio)).durationMs;
  };
  const chimeMs = async (name: string): Promise<number> =>
    (await ffprobe(join(BUILTIN_CHIMES_DIR, `${name}.ogg`))).durationMs;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'chimes-'));
    fx = await startHubFixture({ chimes: { max_duration_s: 2 } });
    chimesDir = join(fx.shareDir, 'chimes');
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('joins chime, speech and closing chime into one Ogg file with the gap or overlap asked for', async () => {
    const plain = await post({ text: TEXT });
    expect(plain.status).toBe(200);
    const speechMs = await durationOf(plain.body.url as string);
    const [ding, done] = [await chimeMs('ding'), await chimeMs('done')];
    for (const offset of [300, -250]) {
      const r = await post({ text: TEXT, chime: 'ding', chime_after: 'done', offset_ms: offset });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.url).not.toBe(plain.body.url);
      const audio = Buffer.from(await (await fetch(r.body.url as string)).arrayBuffer());
      const probe = await ffprobe(audio);
      expect(probe).toMatchObject({ codec: 'opus', container: 'ogg' });
      const expected = ding + offset + speechMs + offset + done;
      expect(Math.abs(probe.durationMs - expected), `offset ${offset}`).toBeLessThanOrEqual(50);
      expect(Math.abs((r.body.duration_ms as number) - expected)).toBeLessThanOrEqual(50);
    }
  });

  it('answers the repeat from the cache without running ffmpeg', async () => {
    const body = { text: TEXT, chime: 'dingdong', chime_after: 'done', offset_ms: 120 };
    const first = await post(body);
    expect(first.body).toMatchObject({ ok: true, cached: false });
    const spawns = ffmpegSpawnCount();
    const again = await post(body);
    expect(again.body).toMatchObject({ ok: true, cached: true, url: first.body.url });
    expect(ffmpegSpawnCount()).toBe(spawns);
    // Over MQTT (JSON) too: the same audio, from the cache.
    const viaMqtt = await client.say(JSON.stringify({ ...body, id: 'mqtt-chime' }), 'mqtt-chime');
    expect(viaMqtt).toMatchObject({ ok: true, cached: true, url: first.body.url });
    expect(ffmpegSpawnCount()).toBe(spawns);
  });

  it('serves a user chime from <share>/chimes and changes the key when its file is replaced', async () => {
    const file = join(chimesDir, 'bell.wav');
    tone(file, 0.5, 660);
    const first = await post({ text: TEXT, chime: 'bell' });
    expect(first.body).toMatchObject({ ok: true, cached: false });
    expect(await post({ text: TEXT, chime: 'bell' })).toMatchObject({ body: { cached: true } });
    // Replaced the way an editor saves: a new file renamed over the old one.
    const next = join(scratch, 'bell.wav');
    tone(next, 0.9, 880);
    renameSync(next, file);
    const second = await post({ text: TEXT, chime: 'bell' });
    expect(second.body).toMatchObject({ ok: true, cached: false });
    expect(second.body.url).not.toBe(first.body.url);
    const grew = (second.body.duration_ms as number) - (first.body.duration_ms as number);
    expect(Math.abs(grew - 400)).toBeLessThanOrEqual(50);
    const listed = (await (await fetch(`${fx.url}/api/chimes`)).json()) as {
      dir: string;
      chimes: Array<{ name: string; source: string; duration_ms?: number }>;
    };
    expect(listed.dir).toBe(chimesDir);
    expect(listed.chimes[0]).toMatchObject({ name: 'bell', source: 'user' });
    expect(Math.abs((listed.chimes[0]?.duration_ms ?? 0) - 900)).toBeLessThanOrEqual(20);
    const names = listed.chimes.map((c) => c.name);
    for (const builtin of ['ding', 'dingdong', 'attention', 'soft', 'alert', 'done'])
      expect(names).toContain(builtin);
    const preview = await fetch(`${fx.url}/api/chimes/ding/audio`);
    expect(preview.headers.get('content-type')).toBe('audio/ogg');
    expect((await ffprobe(Buffer.from(await preview.arrayBuffer()))).codec).toBe('opus');
  });

  it('adds lead-in silence, with or without a chime', async () => {
    const plain = await post({ text: TEXT });
    const led = await post({ text: TEXT, lead_in_ms: 400 });
    expect(led.body.url).not.toBe(plain.body.url);
    const diff = (led.body.duration_ms as number) - (plain.body.duration_ms as number);
    expect(Math.abs(diff - 400)).toBeLessThanOrEqual(50);
  });

  it('refuses an unknown chime with CHIME_NOT_FOUND listing the known ones', async () => {
    const r = await post({ text: TEXT, chime: 'trumpet' });
    expect(r.status).toBe(400);
    expect((r.body.error as Json).code).toBe('CHIME_NOT_FOUND');
    expect((r.body.error as Json).message).toMatch(/'trumpet'.*known chimes: .*ding.*dingdong/);
    const viaMqtt = await client.say(JSON.stringify({ text: TEXT, chime_after: 'nope', id: 'cnf' }), 'cnf');
    expect(viaMqtt).toMatchObject({ ok: false, error: { code: 'CHIME_NOT_FOUND' } });
  });

  it('fails only the request for a chime that is not audio, too long, or broken; the hub goes on', async () => {
    writeFileSync(join(chimesDir, 'junk.ogg'), 'this is not audio at all\n'.repeat(20));
    tone(join(chimesDir, 'long.wav'), 3, 440);
    const ding = execFileSync('cat', [join(BUILTIN_CHIMES_DIR, 'ding.ogg')]);
    writeFileSync(join(chimesDir, 'cut.ogg'), ding.subarray(0, 120));
    const cases: Array<[string, RegExp]> = [
      ['junk', /does not decode as audio/],
      ['long', /longer than 2 s/],
      ['cut', /does not decode as audio|holds no audio/],
    ];
    for (const [name, message] of cases) {
      const r = await post({ text: `${TEXT} ${name}`, chime: name });
      expect(r.status, name).toBe(422);
      expect(r.body.error, name).toMatchObject({ code: 'CHIME_INVALID' });
      expect((r.body.error as Json).message as string, name).toMatch(message);
    }
    const listed = (await (await fetch(`${fx.url}/api/chimes`)).json()) as {
      chimes: Array<{ name: string; error?: string }>;
    };
    expect(listed.chimes.find((c) => c.name === 'long')?.error).toMatch(/longer than/);
    // Nothing else is affected: a say with a good chime and a plain one still work.
    expect((await post({ text: 'Still here.', chime: 'alert' })).body).toMatchObject({ ok: true });
    expect((await post({ text: 'Still here.' })).body).toMatchObject({ ok: true });
    expect((await (await fetch(`${fx.url}/api/health`)).json()) as Json).toMatchObject({ status: 'ok' });
  });

  it('takes chime fields in notify data (a JSON message on the notify entity)', async () => {
    const result = client.next('tts/result', (p) => JSON.parse(p.toString()).id === 'notify-chime');
    await client.client.publishAsync(
      'tts/notify',
      JSON.stringify({ text: TEXT, chime: 'soft', id: 'notify-chime' }),
      { qos: 1 },
    );
    const body = JSON.parse((await result).toString()) as Json;
    expect(body).toMatchObject({ ok: true });
    const plain = await post({ text: TEXT });
    const soft = await chimeMs('soft');
    expect(
      Math.abs((body.duration_ms as number) - (plain.body.duration_ms as number) - soft),
    ).toBeLessThanOrEqual(50);
  });
});

describe('chime warm-up at start', () => {
  it('decodes the chimes the options name, so the first use runs no ffmpeg, and logs an unknown one', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const dir = mkdtempSync(join(tmpdir(), 'chimes-warm-'));
    const library = createChimeLibrary({ userDir: join(dir, 'chimes'), maxDurationMs: 10_000, log });
    try {
      await library.start({ names: ['ding', 'nope'], format: DEFAULT_MIX_FORMAT });
      // One at a time, in order: when the unknown one is reported, ding is decoded.
      await expect.poll(() => lines.length, { timeout: 15_000 }).toBe(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({ chime: 'nope', code: 'CHIME_NOT_FOUND' });
      const spawns = ffmpegSpawnCount();
      const pcm = await library.pcm(
        await library.resolve('ding'),
        DEFAULT_MIX_FORMAT,
        AbortSignal.timeout(5000),
      );
      expect(pcm.length).toBe(22_050 * 2);
      expect(ffmpegSpawnCount()).toBe(spawns);
    } finally {
      library.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
