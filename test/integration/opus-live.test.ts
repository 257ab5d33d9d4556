/**
 * The in-process encoder on the live path, with the real wyoming-piper speaking ten sentences (a few seconds):
 * a listener of the live URL can decode what it has mid-way, and a SIGKILL of the hub's whole process group in
 * the middle of the encode leaves no cache entry (the next start removes the temp file and speaks it anew).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import { TEN_SENTENCES } from '../helpers/announcements.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { startHub } from '../helpers/hub-process.js';
import { completePages } from '../helpers/live-encode.js';
import { decodesCleanly } from '../helpers/loudness.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../helpers/piper.js';

/** Every file under `dir`, recursively ([] when it does not exist). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)],
  );
}

async function post(baseUrl: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

describe('in-process Opus on the live path (real Piper)', () => {
  let broker: RunningMosquitto;
  let piper: RunningPiper;
  let dir: string;
  const piperEngine = () => ({
    name: 'piper',
    type: 'piper',
    url: piper.url,
    voice: PIPER_VOICE,
    timeout_s: 60,
  });

  beforeAll(async () => {
    [broker, piper] = await Promise.all([startMosquitto(), startWyomingPiper()]);
    dir = await mkdtemp(join(tmpdir(), 'opus-live-'));
  });
  afterAll(async () => {
    await piper?.stop();
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a live listener decodes the partial stream mid-way, and the whole file at the end', async () => {
    let hub: InProcessHub | undefined;
    try {
      hub = await startInProcessHub({ engines: [piperEngine()] }, broker.url);
      const spawns = ffmpegSpawnCount();
      const started = await post(hub.baseUrl, { text: `${TEN_SENTENCES} Partial one.`, wait: false });
      const live = await fetch(started.url as string);
      const reader = (live.body as ReadableStream<Uint8Array>).getReader();
      let got = Buffer.alloc(0);
      // Read until a second of audio is in complete pages, while the synthesis is still running.
      for (;;) {
        const next = await reader.read();
        expect(next.done).toBe(false);
        got = Buffer.concat([got, next.value as Uint8Array]);
        if (completePages(got).granule > 48_000n) break;
      }
      expect(hub.hub.sayService.inFlight()).toBe(1); // still speaking: this is a partial stream
      const partial = completePages(got).bytes;
      const partialFile = join(dir, 'partial.opus');
      writeFileSync(partialFile, partial);
      expect(await decodesCleanly(partialFile)).toBe(true);
      const decodedMs =
        (execFileSync(
          'ffmpeg',
          ['-v', 'error', '-i', partialFile, '-f', 's16le', '-ac', '1', '-ar', '48000', '-'],
          {
            maxBuffer: 1 << 26,
          },
        ).length /
          2 /
          48_000) *
        1000;
      expect(decodedMs).toBeGreaterThan(900);
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        got = Buffer.concat([got, next.value]);
      }
      const wholeFile = join(dir, 'whole.opus');
      writeFileSync(wholeFile, got);
      const whole = await ffprobe(wholeFile);
      expect(whole.durationMs).toBeGreaterThan(decodedMs + 3000);
      expect(await decodesCleanly(wholeFile)).toBe(true);
      expect(ffmpegSpawnCount()).toBe(spawns); // no ffmpeg on the Opus path
    } finally {
      await hub?.close();
    }
  });

  it('SIGKILL of the hub process group mid-encode leaves no cache entry; the next start speaks it anew', async () => {
    const shareDir = join(dir, 'share');
    const options = { engines: [piperEngine()], mqtt: { url: broker.url, client_id: 'opus-kill' } };
    const text = `${TEN_SENTENCES} Killed one.`;
    const first = await startHub(options, { shareDir }); // its own process group (the helper's default)
    try {
      const started = await post(first.baseUrl, { text, wait: false });
      const live = await fetch(started.url as string);
      const reader = (live.body as ReadableStream<Uint8Array>).getReader();
      let got = Buffer.alloc(0);
      while (completePages(got).granule <= 48_000n) {
        const next = await reader.read();
        expect(next.done).toBe(false);
        got = Buffer.concat([got, next.value as Uint8Array]);
      }
      // Mid-encode: audio is out, the engine is still speaking. Kill the whole group, as systemd or Ctrl-C would.
      first.signalGroup('SIGKILL');
      await new Promise<void>((r) =>
        first.child.exitCode !== null || first.child.signalCode ? r() : first.child.once('exit', () => r()),
      );
      await reader.read().catch(() => undefined);
      const cache = join(shareDir, 'cache');
      const left = filesUnder(cache);
      expect(left.filter((f) => f.endsWith('.opus') || f.endsWith('.json'))).toEqual([]);
      // Whatever of the partial write reached the disk is a temp file, never renamed into place (the writer holds
      // short writes in memory until FLUSH_BYTES or FLUSH_AFTER_MS, so there may be none yet).
      expect(left.filter((f) => !f.endsWith('.tmp'))).toEqual([]);
    } finally {
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
    }
    const second = await startHub(options, { shareDir });
    try {
      expect(filesUnder(join(shareDir, 'cache')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      const again = await post(second.baseUrl, { text, wait: true });
      expect(again).toMatchObject({ ok: true, cached: false });
      const audio = Buffer.from(await (await fetch(String(again.url))).arrayBuffer());
      const probe = await ffprobe(audio);
      expect(probe.codec).toBe('opus');
      expect(probe.durationMs).toBeGreaterThan(5000);
    } finally {
      await second.stop();
      second.cleanup();
      first.cleanup();
    }
  });
});
