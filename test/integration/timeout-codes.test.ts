/**
 * ENGINE_TIMEOUT means an engine's own timeout fired, nothing else. Before issue 14 every `TimeoutError` became
 * ENGINE_TIMEOUT, so a cache derivation (one real ffmpeg transcode) that ran out of time, or a Home Assistant
 * call, read as an engine fault.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../../src/audio/ffmpeg.js';
import { createDeriver } from '../../src/cache/derive.js';
import { cacheKey } from '../../src/cache/key.js';
import { type CacheStore, createCacheStore } from '../../src/cache/store.js';
import { AppError, toAppError } from '../../src/shared/errors.js';
import { silentLog } from '../../src/shared/log.js';

const run = promisify(execFile);

describe('timeout codes', () => {
  it('a bare TimeoutError is TIMEOUT, or the code its caller names, never ENGINE_TIMEOUT', () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(toAppError(timeout).code).toBe('TIMEOUT');
    expect(toAppError(timeout, 'SINK_FAILED').code).toBe('SINK_FAILED');
    const engine = new AppError('ENGINE_TIMEOUT', "engine 'piper' took longer than its timeout of 30 s");
    expect(toAppError(engine)).toBe(engine);
  });

  describe('cache derivation', () => {
    let dir = '';
    let cache: CacheStore;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'timeout-codes-'));
      cache = createCacheStore({ dir, maxEntries: 10, maxBytes: 50_000_000, log: silentLog() });
      await cache.start();
    });
    afterEach(async () => {
      await cache.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('a derivation past its time limit fails with FFMPEG_FAILED naming the limit', async () => {
      const { stdout } = await run(
        findFfmpeg(),
        [
          '-v',
          'error',
          '-f',
          'lavfi',
          '-i',
          'sine=frequency=440:duration=20',
          '-c:a',
          'libopus',
          '-f',
          'ogg',
          'pipe:1',
        ],
        { encoding: 'buffer', maxBuffer: 20 * 1024 * 1024 },
      );
      const key = (format: 'opus' | 'mp3') =>
        cacheKey({ engine: 'espeak', voice: 'en', format, text: 'sine' });
      const writer = cache.beginWrite(key('opus'), 'opus');
      await writer.write(stdout);
      const source = await writer.commit({ text: 'sine', engine: 'espeak', voice: 'en', durationMs: 20_000 });
      if (!source) throw new Error('source not cached');
      const deriver = createDeriver({ cache, bitrateKbps: 32, timeoutMs: 1 });
      const err = await deriver
        .derive(source, key('mp3'), 'mp3', new AbortController().signal)
        .catch((e) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('FFMPEG_FAILED');
      expect((err as AppError).message).toMatch(/took longer than/);
    });
  });
});
