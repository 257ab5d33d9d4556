/** Doctor checks of the share volume: writable, atomic writes (write, fsync, rename) work, and free space. */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Finding } from './report.js';

/** Below this much free space the cache and recordings will fail soon. */
const LOW_FREE_BYTES = 50 * 1024 * 1024;

const mb = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MB`;

/**
 * Creates `shareDir` if needed, writes a temp file, fsyncs it, renames it over its final name, reads it back and
 * removes it (how the cache and recorder write), then reads the free space.
 * @param cacheMaxBytes `cache.max_mb` in bytes: less free space than this is a warning.
 */
export async function checkShare(shareDir: string, cacheMaxBytes: number): Promise<Finding[]> {
  const id = randomUUID();
  const temp = join(shareDir, `.doctor-${id}.tmp`);
  const final = join(shareDir, `.doctor-${id}`);
  const body = `tts-hub doctor ${id}\n`;
  try {
    await mkdir(shareDir, { recursive: true });
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, final);
    if ((await readFile(final, 'utf8')) !== body)
      throw new Error('the file read back differs from what was written');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return [
      {
        check: 'share',
        status: 'fail',
        message: `cannot write to ${shareDir}: ${(err as Error).message}`,
        fix:
          code === 'EACCES' || code === 'EROFS'
            ? 'give the hub write access to share_dir (the add-on maps share:rw), or set share_dir to a writable folder'
            : 'set share_dir to a folder on a local, writable disk',
      },
    ];
  } finally {
    await rm(temp, { force: true }).catch(() => {});
    await rm(final, { force: true }).catch(() => {});
  }
  const findings: Finding[] = [
    { check: 'share', status: 'ok', message: `${shareDir} is writable; write, fsync and rename work` },
  ];
  const fs = await statfs(shareDir);
  const free = fs.bavail * fs.bsize;
  if (free < LOW_FREE_BYTES) {
    findings.push({
      check: 'share.free',
      status: 'fail',
      message: `only ${mb(free)} free on the share volume`,
      fix: 'free some space, or lower cache.max_mb and recorder.max_total_mb',
    });
  } else if (free < cacheMaxBytes) {
    findings.push({
      check: 'share.free',
      status: 'warn',
      message: `${mb(free)} free, less than the cache may use (cache.max_mb ${mb(cacheMaxBytes)})`,
      fix: 'lower cache.max_mb below the free space, or free some space',
    });
  } else {
    findings.push({
      check: 'share.free',
      status: 'ok',
      message: `${mb(free)} free (the cache may use up to ${mb(cacheMaxBytes)})`,
    });
  }
  return findings;
}
