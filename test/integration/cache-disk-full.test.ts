/**
 * A full disk under the cache (a real 96 KiB tmpfs as the share dir) answers the say with DISK_FULL on the result
 * topic, leaves no partial cache file behind, and the hub keeps serving. Needs permission to mount tmpfs (root,
 * as in CI); reported as skipped elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'cache-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96k', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  mounted = false;
}

/** Every file under `dir`, relative paths. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

describe.skipIf(!mounted)('cache on a full disk', () => {
  let broker: RunningMosquitto;
  let hub: InProcessHub;
  let client: SayClient;

  beforeAll(async () => {
    broker = await startMosquitto();
    hub = await startInProcessHub({ share_dir: mountPoint, recorder: { enabled: false } }, broker.url);
    client = await connectSayClient(broker.url);
  });
  afterAll(async () => {
    await client?.close();
    await hub?.close();
    await broker?.stop();
    if (mounted) execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('answers DISK_FULL on the result topic, keeps no partial file, and still speaks short texts', async () => {
    // About 40 s of speech: ~160 KB of Opus at 32 kbit/s, more than the 96 KiB disk holds.
    const long = Array.from(
      { length: 12 },
      (_, i) => `This is sentence number ${i + 1} of a long announcement.`,
    ).join(' ');
    const failed = await client.say(JSON.stringify({ text: long, id: 'too-big' }), 'too-big', 60_000);
    expect(failed).toMatchObject({ id: 'too-big', ok: false, error: { code: 'DISK_FULL' } });
    // The hub's own data dir (`.data`: the request journal) is not cache.
    const cacheFiles = (): string[] =>
      filesUnder(mountPoint).filter((f) => !f.endsWith('.json') && !f.includes('/.data/'));
    expect(cacheFiles()).toEqual([]);

    const ok = await client.say(JSON.stringify({ text: 'Dinner is ready!', id: 'small' }), 'small');
    expect(ok).toMatchObject({ id: 'small', ok: true, cached: false });
    expect((await fetch(ok.url as string)).status).toBe(200);
  });
});
