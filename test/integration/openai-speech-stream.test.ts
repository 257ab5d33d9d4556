/**
 * `POST /v1/audio/speech` as OpenAI-speech clients use it:
 * - the official `openai` PyPI package (test/helpers/openai_speech_client.py) streams every format, plain and
 *   `stream_format: "sse"`; ffmpeg decodes each answer to the expected length, and the SSE deltas reassemble
 *   to the same audio as the plain stream;
 * - the answer streams while the engine speaks: with an engine that takes 1.2 s per sentence, the first bytes
 *   of every format arrive long before the last sentence is spoken;
 * - errors keep the OpenAI shape, also for an engine that fails before any audio.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import { ffmpegLoad } from '../../src/audio/ffmpeg-slots.js';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { startInProcessHub } from '../helpers/hub-inprocess.js';
import { venvPython } from '../helpers/piper.js';

const run = promisify(execFile);
const CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'openai_speech_client.py');
const FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
const CODECS: Record<(typeof FORMATS)[number], string> = {
  mp3: 'mp3',
  opus: 'opus',
  aac: 'aac',
  flac: 'flac',
  wav: 'pcm_s16le',
  pcm: 'pcm_s16le',
};

interface ClientResult {
  spec: string;
  file: string | null;
  bytes: number;
  pieces: number;
  first_byte_ms: number | null;
  events: string[];
  content_type?: string;
  usage?: Record<string, number>;
  error: { status: number; body: { error: Record<string, unknown> } } | null;
}

async function openaiClient(baseUrl: string, dir: string, text: string, specs: string[]) {
  const { stdout } = await run(venvPython(), [CLIENT, `${baseUrl}/v1`, dir, text, ...specs], {
    timeout: 120_000,
  });
  return (JSON.parse(stdout) as { results: ClientResult[] }).results;
}

/** Decodes `file` completely with ffmpeg (raw pcm needs its format given) and returns codec and duration. */
async function decode(file: string, format: string): Promise<{ codec: string; ms: number }> {
  const input = format === 'pcm' ? ['-f', 's16le', '-ar', '24000', '-ac', '1'] : [];
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', ...input, '-print_format', 'json', '-show_streams', file],
  ]);
  const codec = (JSON.parse(stdout) as { streams: Array<{ codec_name: string }> }).streams[0]?.codec_name;
  const pcm = await run(
    'ffmpeg',
    ['-v', 'error', ...input, '-i', file, '-f', 's16le', '-ar', '48000', '-ac', '1', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return { codec: codec ?? '', ms: (pcm.stdout.length / 2 / 48_000) * 1000 };
}

describe('/v1/audio/speech with the official openai client', () => {
  let fx: HubFixture;
  let dir: string;

  beforeAll(async () => {
    fx = await startHubFixture({});
    dir = await mkdtemp(join(tmpdir(), 'openai-client-'));
  });
  afterAll(async () => {
    await fx?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('streams every format, plain and as SSE; each decodes to the same length; SSE reassembles the audio', async () => {
    const text = 'The front door is open. Please close it before you leave. Thank you.';
    const specs = [...FORMATS, ...FORMATS.map((f) => `${f}:sse`), 'mp3@2'];
    const results = await openaiClient(fx.url, dir, text, specs);
    const byFormat = new Map(results.map((r) => [r.spec, r]));
    const reference = await decode(byFormat.get('wav')?.file as string, 'wav');
    expect(reference.ms).toBeGreaterThan(2500);
    for (const format of FORMATS) {
      const plain = byFormat.get(format) as ClientResult;
      const sse = byFormat.get(`${format}:sse`) as ClientResult;
      expect(plain.error, format).toBeNull();
      expect(sse.error, format).toBeNull();
      expect(plain.content_type, format).toMatch(format === 'opus' ? /^audio\/ogg/ : /^audio\//);
      expect(sse.content_type).toBe('text/event-stream');
      expect(sse.events).toEqual(['speech.audio.delta', 'speech.audio.done']);
      expect(sse.usage).toEqual({ input_tokens: 0, output_tokens: 0, total_tokens: 0 });
      const decoded = await decode(plain.file as string, format);
      expect(decoded.codec, format).toBe(CODECS[format]);
      // Encoder delay and padding (MP3, AAC, Opus pre-skip) stay well under 100 ms.
      expect(Math.abs(decoded.ms - reference.ms), format).toBeLessThan(100);
      const plainBytes = await readFile(plain.file as string);
      const sseBytes = await readFile(sse.file as string);
      // The plain wav streamed live (header with an unknown length); the SSE one came from the file (sizes set).
      const skip = format === 'wav' ? 44 : 0;
      expect(sseBytes.subarray(skip).equals(plainBytes.subarray(skip)), format).toBe(true);
    }
    const fast = await decode(byFormat.get('mp3@2')?.file as string, 'mp3');
    expect(fast.ms).toBeGreaterThan(reference.ms * 0.4);
    expect(fast.ms).toBeLessThan(reference.ms * 0.6);
  });

  it('takes a pre-started ffmpeg for aac and flac and leaves a new one; the answers still decode', async () => {
    /** Streams one answer to a file; `atFirst` runs when its first bytes have arrived. */
    const speak = async (format: string, text: string, atFirst = (): void => {}): Promise<string> => {
      const res = await fetch(`${fx.url}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: text, response_format: format }),
      });
      expect(res.status, format).toBe(200);
      const parts: Buffer[] = [];
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (parts.length === 0) atFirst();
        parts.push(Buffer.from(chunk));
      }
      const file = join(dir, `spare-${format}-${text.length}.${format}`);
      await writeFile(file, Buffer.concat(parts));
      return file;
    };
    for (const format of ['aac', 'flac'] as const) {
      // The first miss of a format starts its ffmpeg and, once done, a spare for the next request.
      // (The answer ends after its ffmpeg has exited, so what still runs are the spares.)
      await speak(format, `A first ${format} request starts the spare.`);
      const spares = ffmpegLoad().running;
      expect(spares).toBeGreaterThanOrEqual(1);
      const before = ffmpegSpawnCount();
      // The second takes the spare: its audio flows with no start of its own, and then one replacement starts.
      const file = await speak(format, `A second ${format} request, with a number: ${Date.now()}.`, () =>
        expect(ffmpegSpawnCount(), format).toBe(before),
      );
      expect(ffmpegSpawnCount(), format).toBe(before + 1);
      await vi.waitFor(() => expect(ffmpegLoad().running).toBe(spares));
      const decoded = await decode(file, format);
      expect(decoded.codec, format).toBe(CODECS[format]);
      expect(decoded.ms, format).toBeGreaterThan(1000);
    }
  });

  it('answers errors in the OpenAI shape through the client', async () => {
    const [bad] = await openaiClient(fx.url, dir, ' ', ['mp3']);
    expect(bad?.error?.status).toBe(400);
    expect(bad?.error?.body.error).toMatchObject({ code: 'TEXT_EMPTY', type: 'invalid_request_error' });
  });
});

describe('/v1/audio/speech streams while the engine speaks', () => {
  let fx: HubFixture;
  const gate = useGatedOpenAiServer((g) => {
    g.delayMs = 1200;
  });

  beforeAll(async () => {
    fx = await startHubFixture({
      engines: [
        { name: 'slow', type: 'openai', url: `${gate().url}/v1`, voice: 'af_heart', max_parallel: 6 },
        { name: 'espeak', type: 'espeak' },
      ],
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('sends the first bytes of every format long before the last sentence is spoken', async () => {
    const timings = await Promise.all(
      FORMATS.map(async (format) => {
        // A text per format: the phrase cache would otherwise share sentences between the says.
        const text = `First ${format} sentence is here. Second ${format} one follows. Third ${format} ends it.`;
        const t0 = performance.now();
        const res = await fetch(`${fx.url}/v1/audio/speech`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'slow', input: text, response_format: format }),
        });
        expect(res.status, format).toBe(200);
        let first = 0;
        let bytes = 0;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (!first) first = performance.now() - t0;
          bytes += chunk.length;
        }
        return { format, first, total: performance.now() - t0, bytes };
      }),
    );
    for (const t of timings) {
      expect(t.bytes, t.format).toBeGreaterThan(1000);
      // Three sentences at 1.2 s each: the first audio leaves after the first one, not after all three.
      expect(t.total, t.format).toBeGreaterThan(3500);
      expect(t.first, t.format).toBeLessThan(t.total - 1500);
    }
  });

  it('answers an engine failure before any audio with the OpenAI error JSON', async () => {
    const alone = await startInProcessHub(
      { engines: [{ name: 'slow', type: 'openai', url: `${gate().url}/v1`, voice: 'af_heart' }] },
      fx.broker.url,
    );
    gate().mode = 'reset';
    try {
      const res = await fetch(`${alone.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: 'Nobody answers this one.', response_format: 'flac' }),
      });
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(await res.json()).toMatchObject({
        error: { type: 'server_error', param: null, code: expect.stringMatching(/^ENGINE_|ALL_ENGINES/) },
      });
      const bad = await fetch(`${alone.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: 'x', response_format: 'aac', speed: 9 }),
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({
        error: { type: 'invalid_request_error', code: 'BAD_PAYLOAD', param: null },
      });
    } finally {
      gate().mode = 'pass';
      await alone.close();
    }
  });
});
