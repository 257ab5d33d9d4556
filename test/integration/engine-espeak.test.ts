import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { silentLog } from '../../src/shared/log.js';
import { createEspeakEngine } from '../../src/tts/engines/espeak.js';
import { collect, failure, rms } from '../servers/collect.js';

const log = silentLog();
const LONG_TEXT = Array.from(
  { length: 30 },
  (_, i) => `This is sentence number ${i + 1} of a long story.`,
).join(' ');

function espeakChildren(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('espeak'));
}

describe('espeak-ng engine (real espeak-ng)', () => {
  const engine = createEspeakEngine({ name: 'espeak', log });

  it('speaks a sentence as 22050 Hz s16 mono PCM of plausible length', async () => {
    const { format, pcm, durationMs } = await collect(engine, { text: 'The washing machine has finished.' });
    expect(format).toEqual({ rateHz: 22050, widthBytes: 2, channels: 1 });
    expect(durationMs).toBeGreaterThan(1200);
    expect(durationMs).toBeLessThan(5000);
    expect(rms(pcm)).toBeGreaterThan(500);
  });

  it('streams a long text in many chunks and never hands out the WAV header as audio', async () => {
    const { chunks, pcm, durationMs } = await collect(engine, { text: LONG_TEXT });
    expect(chunks.length).toBeGreaterThan(3);
    expect(durationMs).toBeGreaterThan(60_000);
    expect(pcm.subarray(0, 4).toString('latin1')).not.toBe('RIFF');
  });

  it('speaks text that starts with a dash instead of reading it as an option', async () => {
    const { durationMs } = await collect(engine, { text: '-v xx --help is not an option here' });
    expect(durationMs).toBeGreaterThan(1000);
  });

  it('uses the request language to pick a voice, and a named voice over the default', async () => {
    const text = 'Guten Morgen, die Waschmaschine ist fertig.';
    // Byte-exact through the CLI (one process per say); a warm process carries a little state from one
    // utterance to the next (pauses a few ms apart), so there the same voice gives nearly the same length.
    const cli = createEspeakEngine({ name: 'espeak-cli', log, warm: false });
    const english = await collect(cli, { text });
    const german = await collect(cli, { text, language: 'de-DE' });
    const named = await collect(cli, { text, voice: 'de' });
    expect(german.pcm.equals(english.pcm)).toBe(false);
    expect(named.pcm.equals(german.pcm)).toBe(true);
    const warmGerman = await collect(engine, { text, language: 'de-DE' });
    const warmNamed = await collect(engine, { text, voice: 'de' });
    expect(Math.abs(warmGerman.durationMs - german.durationMs)).toBeLessThan(german.durationMs * 0.02);
    expect(Math.abs(warmNamed.durationMs - german.durationMs)).toBeLessThan(german.durationMs * 0.02);
  });

  it('refuses an unknown voice with VOICE_NOT_FOUND naming known voices', async () => {
    const err = await failure(() => collect(engine, { text: 'hello', voice: 'no-such-voice' }));
    expect(err.code).toBe('VOICE_NOT_FOUND');
    expect(err.message).toContain("'no-such-voice'");
    expect(err.message).toContain('en-us');
  });

  it('lists voices from espeak-ng --voices', async () => {
    const voices = await engine.voices();
    expect(voices.length).toBeGreaterThan(50);
    expect(voices.find((v) => v.name === 'en-us')?.languages).toContain('en');
    expect(voices.find((v) => v.name === 'de')).toBeDefined();
  });

  it('probes healthy', async () => {
    expect((await engine.probe()).healthy).toBe(true);
  });

  it('stops espeak-ng when aborted mid-stream and throws ABORTED', async () => {
    const ac = new AbortController();
    const err = await failure(async () => {
      for await (const _chunk of engine.synthesize({ text: LONG_TEXT }, ac.signal)) ac.abort();
    });
    expect(err.code).toBe('ABORTED');
    await expect.poll(espeakChildren, { timeout: 5000 }).toEqual([]);
  });

  it('reports a timeout signal as ENGINE_TIMEOUT', async () => {
    const err = await failure(() => collect(engine, { text: LONG_TEXT.repeat(20) }, AbortSignal.timeout(50)));
    expect(err.code).toBe('ENGINE_TIMEOUT');
    await expect.poll(espeakChildren, { timeout: 5000 }).toEqual([]);
  });
});

describe('espeak-ng engine faults', () => {
  it('reports a missing executable as ENGINE_MISCONFIGURED naming it, and probes unhealthy', async () => {
    const engine = createEspeakEngine({ name: 'gone', log, command: '/nonexistent/espeak-ng' });
    const err = await failure(() => collect(engine, { text: 'hello', voice: 'en' }));
    expect(err.code).toBe('ENGINE_MISCONFIGURED');
    expect(err.message).toContain('/nonexistent/espeak-ng');
    const health = await engine.probe();
    expect(health.healthy).toBe(false);
    expect(health.error).toContain('/nonexistent/espeak-ng');
  });

  it('reports a non-zero exit as ENGINE_FAILED with the stderr tail', async () => {
    // --voices succeeds (real list), synthesis fails: a wrapper that fails unless asked for voices.
    const script =
      'case "$1" in --voices) exec espeak-ng --voices;; *) echo "voice data damaged" >&2; exit 3;; esac';
    const engine = createEspeakEngine({ name: 'broken', log, command: `sh -c '${script}' sh` });
    const err = await failure(() => collect(engine, { text: 'hello' }));
    expect(err.code).toBe('ENGINE_FAILED');
    expect(err.message).toContain('voice data damaged');
    expect(err.message).toContain('exit code 3');
  });

  it('reports output that is not WAV as ENGINE_BAD_RESPONSE', async () => {
    const script = 'case "$1" in --voices) exec espeak-ng --voices;; *) echo "<html>oops</html>";; esac';
    const engine = createEspeakEngine({ name: 'garbage', log, command: `sh -c '${script}' sh` });
    const err = await failure(() => collect(engine, { text: 'hello' }));
    expect(err.code).toBe('ENGINE_BAD_RESPONSE');
  });
});
