/**
 * Hermes and MQTT targets through a real mosquitto: a Rhasspy-style site receives playBytes WAVs (long audio
 * as several messages, each well under mosquitto's 2 MB limit) that reassemble to the speech's duration, and
 * answers playFinished; `hermes/tts/say` is spoken to its site and followed by `hermes/tts/sayFinished`; an
 * MQTT satellite gets `{id, url, format, text}` with a URL serving the audio.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';
import { type HermesSite, startHermesSite } from '../servers/hermes-site.js';

/** About 30 s of espeak speech: more than one 1 MiB WAV at 22050 Hz. */
const LONG_TEXT = [
  'Good morning. Here is your briefing for today.',
  'The weather will be mostly cloudy with a chance of light rain in the early afternoon, clearing by the evening.',
  'Temperatures will reach fourteen degrees, with a gentle breeze from the south west.',
  'Your first meeting starts at nine thirty in the small conference room on the second floor.',
  'Remember to take the recycling out tonight, because collection is tomorrow morning at seven.',
  'The dishwasher finished its cycle an hour ago and can be emptied whenever you have a moment.',
  'Finally, the package you ordered last week is expected to arrive between two and four this afternoon.',
].join(' ');

const pcmMs = (bytes: number): number => (bytes / (22050 * 2)) * 1000;

describe('hermes and mqtt targets', () => {
  let fx: HubFixture;
  let client: SayClient;
  let kitchen: HermesSite;
  let bedroom: HermesSite;

  beforeAll(async () => {
    fx = await startHubFixture(
      {
        topics: { hermes: true },
        targets: [
          { name: 'rhasspy', type: 'hermes', site_id: 'kitchen' },
          { name: 'den', type: 'mqtt', url: 'satellites/den/play' },
        ],
      },
      {
        lanAddress: true,
        client: { extraTopics: ['hermes/tts/sayFinished', 'satellites/den/play'] },
      },
    );
    client = fx.client;
    [kitchen, bedroom] = await Promise.all([
      startHermesSite(fx.broker.url, 'kitchen'),
      startHermesSite(fx.broker.url, 'bedroom', { realtime: true }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([kitchen?.close(), bedroom?.close()]);
    await fx?.close();
  });

  it('sends long audio to a site as several playBytes WAVs that add up to the speech', async () => {
    kitchen.plays.length = 0;
    const result = await client.say(
      JSON.stringify({ id: 'brief', text: LONG_TEXT, target: 'rhasspy' }),
      'brief',
      60_000,
    );
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'rhasspy', ok: true }] });
    const plays = kitchen.plays;
    expect(plays.length).toBeGreaterThanOrEqual(2);
    expect(plays.map((p) => p.requestId)).toEqual(plays.map((_, i) => `brief-${i + 1}`));
    for (const p of plays) {
      expect(p.bytes).toBeLessThanOrEqual(1024 * 1024);
      expect(p.format).toEqual({ rateHz: 22050, widthBytes: 2, channels: 1 });
    }
    const totalMs = pcmMs(plays.reduce((n, p) => n + p.pcm.length, 0));
    expect(Math.abs(totalMs - (result.duration_ms as number))).toBeLessThan(100);
    expect(result.duration_ms as number).toBeGreaterThan(24_000);
  });

  it('speaks hermes/tts/say to its site and publishes sayFinished after the site played it', async () => {
    const finished = client.next('hermes/tts/sayFinished', (p) => JSON.parse(p.toString()).id === 'h-1');
    await client.client.publishAsync(
      'hermes/tts/say',
      JSON.stringify({
        text: 'The timer is done.',
        siteId: 'bedroom',
        id: 'h-1',
        sessionId: 'session-7',
        lang: 'en',
      }),
    );
    const body = JSON.parse((await finished).toString()) as Record<string, unknown>;
    const receivedAt = Date.now();
    expect(body).toEqual({ id: 'h-1', siteId: 'bedroom', sessionId: 'session-7' });
    const play = bedroom.plays.find((p) => p.requestId === 'h-1');
    expect(play).toBeDefined();
    expect(play?.finishedAt).toBeLessThanOrEqual(receivedAt);
    expect(pcmMs(play?.pcm.length ?? 0)).toBeGreaterThan(500);
  });

  it('answers sayFinished even when the site id cannot be a topic', async () => {
    const finished = client.next('hermes/tts/sayFinished', (p) => JSON.parse(p.toString()).id === 'h-2');
    await client.client.publishAsync(
      'hermes/tts/say',
      JSON.stringify({ text: 'Hi.', siteId: 'a/b', id: 'h-2' }),
    );
    expect(JSON.parse((await finished).toString())).toEqual({ id: 'h-2', siteId: 'a/b', sessionId: '' });
  });

  it('answers sayFinished for a refused say (a field of the wrong type), so the dialogue goes on', async () => {
    const finished = client.next('hermes/tts/sayFinished', (p) => JSON.parse(p.toString()).id === 'h-3');
    await client.client.publishAsync(
      'hermes/tts/say',
      JSON.stringify({ text: 42, siteId: 'kitchen', id: 'h-3', sessionId: 'session-9' }),
    );
    expect(JSON.parse((await finished).toString())).toEqual({
      id: 'h-3',
      siteId: 'kitchen',
      sessionId: 'session-9',
    });
  });

  it('publishes {id, url, format, text} to an MQTT satellite, and the URL serves the speech', async () => {
    const message = client.next('satellites/den/play');
    const result = await client.say(
      JSON.stringify({ id: 'm-1', text: 'Lights out in five minutes.', target: 'den', format: 'mp3' }),
      'm-1',
    );
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'den', ok: true }] });
    const payload = JSON.parse((await message).toString()) as Record<string, unknown>;
    expect(payload).toEqual({
      id: 'm-1',
      url: result.url,
      format: 'mp3',
      text: 'Lights out in five minutes.',
    });
    const probe = await ffprobe(Buffer.from(await (await fetch(payload.url as string)).arrayBuffer()));
    expect(probe.codec).toBe('mp3');
    expect(Math.abs(probe.durationMs - (result.duration_ms as number))).toBeLessThan(150);
  });
});
