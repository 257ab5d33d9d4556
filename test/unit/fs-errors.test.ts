/**
 * The one file-system error mapping (shared/fs-errors.ts): ENOSPC and EDQUOT are DISK_FULL everywhere, other
 * errors CACHE_IO for the audio cache and STORAGE_IO for everything else (recordings). Before issue 14 the
 * recorder had its own mapping that missed EDQUOT and called its failures CACHE_IO.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repairSidecar } from '../../src/recorder/sidecar.js';
import { AppError, isAppError } from '../../src/shared/errors.js';
import { fsError } from '../../src/shared/fs-errors.js';

const errno = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('fsError', () => {
  it('maps ENOSPC and EDQUOT to DISK_FULL, keeping the cause and naming the path', () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      const err = errno(code);
      const e = fsError(err, 'write', '/share/recordings/x.wav');
      expect(e.code).toBe('DISK_FULL');
      expect(e.cause).toBe(err);
      expect(e.message).toContain('/share/recordings/x.wav');
    }
  });

  it('maps other errors to STORAGE_IO, or CACHE_IO for the cache', () => {
    const denied = errno('EACCES', 'permission denied');
    expect(fsError(denied, 'write', '/x').code).toBe('STORAGE_IO');
    expect(fsError(denied, 'write', '/x', { area: 'cache' }).code).toBe('CACHE_IO');
    expect(fsError(denied, 'write', '/x').message).toContain('permission denied');
  });

  it('passes an AppError through unchanged', () => {
    const own = new AppError('LIMIT_REACHED', 'too many');
    expect(fsError(own, 'write', '/x')).toBe(own);
  });
});

describe('recorder file errors', () => {
  it('reports a sidecar that cannot be repaired as STORAGE_IO, not CACHE_IO', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-errors-'));
    try {
      const err = await repairSidecar(join(dir, 'missing', 'x.wav')).catch((e: unknown) => e);
      expect(isAppError(err, 'STORAGE_IO')).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
