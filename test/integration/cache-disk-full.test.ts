/**
 * A full disk does not silence an announcement. The share dir is a real tmpfs filled to the last byte: a say is
 * still delivered (a Wyoming speaker gets its PCM) and its URL plays (ffprobe, Range), from memory, with
 * `cached: false` and a CACHE_DEGRADED warning; /api/cache, tts/status (the discovery binary sensor's topic)
 * say degraded; a repeat is served from memory and another format is derived from memory; once space returns
 * the memory entries move to disk and the degraded state ends. Needs permission to mount tmpfs (root, as in
 * CI); reported as skipped elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';
import { startWyomingSpeaker, type WyomingSpeaker } from '../servers/wyoming-speaker.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'cache-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  mounted = false;
}

/** Audio files (not sidecars) under `dir`. */
function audioFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && /\.(opus|mp3|wav)$/.test(d.name))
    .map((d) => join(d.parentPath, d.name));
}

/** Writes zeros to `path` until the disk refuses more (ENOSPC). */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

/** Resolves once tts/status has said (or says within 10 s) `cache.degraded === degraded`. */
async function statusSays(client: SayClient, degraded: boolean): Promise<void> {
  const says = (p: Buffer): boolean => JSON.parse(p.toString()).cache?.degraded === degraded;
  const last = client.received.filter((m) => m.topic === 'tts/status').at(-1);
  if (last && says(last.payload)) return;
  await client.next('tts/status', says, 10_000);
}

describe.skipIf(!mounted)('cache on a full disk', () => {
  let speaker: WyomingSpeaker;
  let fixture: HubFixture;
  let client: SayClient;
  const filler = join(mountPoint, 'filler');

  beforeAll(async () => {
    speaker = await startWyomingSpeaker();
    fixture = await startHubFixture(
      {
        share_dir: mountPoint,
        recorder: { enabled: false },
        targets: [{ name: 'pi', type: 'wyoming', url: speaker.url }],
      },
      { client: { extraTopics: ['tts/status'] } },
    );
    client = fixture.client;
    fillDisk(filler);
  });
  afterAll(async () => {
    await fixture?.close();
    await speaker?.stop();
    if (mounted) execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('delivers and streams from memory with cached: false and a warning, then writes again when space returns', async () => {
    const text = 'The washing machine has finished. Please empty it soon.';
    const first = await client.say(JSON.stringify({ text, id: 'full-1', target: 'pi' }), 'full-1', 60_000);
    expect(first).toMatchObject({
      id: 'full-1',
      ok: true,
      cached: false,
      targets: [{ name: 'pi', ok: true }],
      warnings: [{ code: 'CACHE_DEGRADED' }],
    });
    const start = await speaker.waitFor((r) => r.event === 'start');
    const closed = await speaker.waitFor((r) => r.event === 'closed' && r.conn === start.conn);
    expect(closed.played).toBe(true);
    expect(((closed.bytes as number) / (22050 * 2)) * 1000).toBeGreaterThan(1000);
    expect(audioFiles(mountPoint)).toEqual([]);

    // The URL plays: the whole file, and a byte range as players ask for.
    const whole = await fetch(first.url as string);
    expect(whole.status).toBe(200);
    const bytes = Buffer.from(await whole.arrayBuffer());
    expect(Number(whole.headers.get('content-length'))).toBe(bytes.length);
    const probe = await ffprobe(bytes);
    expect(probe.codec).toBe('opus');
    expect(Math.abs(probe.durationMs - (first.duration_ms as number))).toBeLessThan(100);
    const part = await fetch(first.url as string, { headers: { Range: 'bytes=0-99' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 0-99/${bytes.length}`);
    expect((await part.arrayBuffer()).byteLength).toBe(100);

    // Degraded where a dashboard looks: the HTTP figures and the retained status the binary sensor reads.
    const figures = (await (await fetch(`${fixture.url}/api/cache`)).json()) as Record<string, unknown>;
    expect(figures).toMatchObject({ degraded: true, memory_entries: 1 });
    await statusSays(client, true);

    // A repeat runs no engine (memory); another format is derived from memory.
    const again = await client.say(JSON.stringify({ text, id: 'full-2' }), 'full-2');
    expect(again).toMatchObject({ ok: true, cached: true, warnings: [{ code: 'CACHE_DEGRADED' }] });
    const wav = await client.say(JSON.stringify({ text, id: 'full-3', format: 'wav' }), 'full-3');
    expect(wav).toMatchObject({ ok: true, format: 'wav' });
    const wavProbe = await ffprobe(Buffer.from(await (await fetch(wav.url as string)).arrayBuffer()));
    expect(wavProbe.codec).toBe('pcm_s16le');
    expect(Math.abs(wavProbe.durationMs - (first.duration_ms as number))).toBeLessThan(100);

    // Space returns: within the retry period the memory entries go to disk and the state clears.
    rmSync(filler);
    const healed = await vi.waitFor(
      async () => {
        const f = (await (await fetch(`${fixture.url}/api/cache`)).json()) as Record<string, unknown>;
        expect(f).toMatchObject({ degraded: false, memory_entries: 0 });
        return f;
      },
      { timeout: 25_000, interval: 250 },
    );
    expect(healed.entries).toBe(2);
    expect(audioFiles(mountPoint)).toHaveLength(2);
    await statusSays(client, false);
    const disk = await client.say(JSON.stringify({ text, id: 'full-4' }), 'full-4');
    expect(disk).toMatchObject({ ok: true, cached: true });
    expect(disk.warnings).toBeUndefined();
  }, 120_000);
});
