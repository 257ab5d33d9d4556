/**
 * A full disk (a real 256 KiB tmpfs) stops the recording with a DISK_FULL error status; the recorder keeps
 * working. Needs permission to mount tmpfs (root in the dev container); skipped elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createRecorder } from '../../src/recorder/recorder.js';
import type { DeviceStatus } from '../../src/recorder/status.js';
import { isAppError } from '../../src/shared/errors.js';
import { recorderOptions } from '../helpers/recorder.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'rec-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  mounted = false;
}

describe.skipIf(!mounted)('recorder on a full disk', () => {
  afterAll(() => {
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('stops the recording with a DISK_FULL error status and keeps serving', async () => {
    const statuses: DeviceStatus[] = [];
    const rec = createRecorder(
      recorderOptions(mountPoint, { onStatus: (_device, payload) => statuses.push(payload) }),
    );
    await rec.start();
    const session = await rec.open('garage');
    const second = Buffer.alloc(32_000, 1);
    let refused: unknown;
    try {
      for (let i = 0; i < 30 && session.active; i++) {
        session.write(second);
        await sleep(20); // paces the writes like a microphone; waits for nothing
      }
    } catch (err) {
      refused = err;
    }
    await session.close();
    expect(refused === undefined || isAppError(refused, 'CONFLICT')).toBe(true);
    expect(session.active).toBe(false);
    expect(rec.deviceStatus('garage')).toMatchObject({ state: 'error', error: { code: 'DISK_FULL' } });
    expect(statuses.some((s) => s.state === 'error')).toBe(true);
    expect((await rec.totals()).recording).toBe(0);
    await rec.stop();
  });
});
