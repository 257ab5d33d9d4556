/**
 * Writing one cache entry atomically: bytes go to a temp file in the final folder; commit fsyncs it,
 * writes the sidecar (temp + rename), then renames the audio into place. Abort deletes the temp file,
 * so a failed or partial synthesis never leaves an entry.
 */

import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import type { OutputFormat } from '../audio/format.js';
import { patchWavSizes, WAV_HEADER_BYTES } from '../audio/wav.js';
import { AppError } from '../shared/errors.js';
import {
  type CacheEntry,
  type CacheMeta,
  ioError,
  mediaPath,
  shardDir,
  sidecarPath,
  syncDir,
  tempPath,
  unlinkIfPresent,
} from './files.js';

/** What the caller knows at commit time; the store adds key, format, bytes and created_at. */
export interface CommitInfo {
  text: string;
  engine: string;
  voice: string;
  durationMs: number;
}

/** An open write of one entry. Exactly one of `commit` or `abort` ends it. */
export interface CacheWriter {
  readonly key: string;
  readonly format: OutputFormat;
  /** The temp file being written; a tool (ffmpeg via transcodeFile) may write it directly instead of `write`. */
  readonly tempPath: string;
  /** Appends bytes to the temp file. @throws AppError CACHE_IO or DISK_FULL. */
  write(buf: Buffer): Promise<void>;
  /**
   * fsyncs, writes the sidecar, renames into place and indexes the entry. WAV gets its header sizes patched.
   * Resolves to the entry, or undefined when it is larger than the whole cache (then nothing is kept).
   * @throws AppError CACHE_IO (also for an empty file) or DISK_FULL; the temp file is deleted on failure.
   */
  commit(info: CommitInfo): Promise<CacheEntry | undefined>;
  /** Closes and deletes the temp file. Safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
}

/** Dependencies of a writer: the cache root and the store's indexing step. */
export interface WriterDeps {
  dir: string;
  key: string;
  format: OutputFormat;
  index(entry: CacheEntry): Promise<CacheEntry | undefined>;
}

/** Creates a writer for a validated key and format (see CacheWriter). No file exists until the first write. */
export function createCacheWriter(deps: WriterDeps): CacheWriter {
  const final = mediaPath(deps.dir, deps.key, deps.format);
  const temp = tempPath(final);
  let fh: FileHandle | undefined;
  let ended = false;

  const ensureOpen = async (): Promise<FileHandle> => {
    if (fh) return fh;
    await mkdir(shardDir(deps.dir, deps.key), { recursive: true });
    fh = await open(temp, 'a');
    return fh;
  };
  const closeHandle = async (): Promise<void> => {
    const h = fh;
    fh = undefined;
    await h?.close();
  };
  const assertOpen = (): void => {
    if (ended) throw new AppError('INTERNAL', `cache writer for ${deps.key}.${deps.format} already ended`);
  };

  return {
    key: deps.key,
    format: deps.format,
    tempPath: temp,
    async write(buf) {
      assertOpen();
      try {
        await (await ensureOpen()).write(buf);
      } catch (err) {
        throw ioError(err, 'write', temp);
      }
    },
    async commit(info) {
      assertOpen();
      ended = true;
      try {
        await closeHandle();
        const bytes = await finishTemp(temp, deps.format);
        const meta: CacheMeta = {
          key: deps.key,
          format: deps.format,
          text: info.text,
          engine: info.engine,
          voice: info.voice,
          duration_ms: Math.round(info.durationMs),
          bytes,
          created_at: new Date().toISOString(),
        };
        await writeSidecar(final, meta);
        await rename(temp, final);
        await syncDir(shardDir(deps.dir, deps.key));
        return await deps.index({
          key: deps.key,
          format: deps.format,
          path: final,
          bytes,
          durationMs: meta.duration_ms,
          meta,
        });
      } catch (err) {
        await unlinkIfPresent(temp).catch(() => {});
        throw ioError(err, 'commit', final);
      }
    },
    async abort() {
      ended = true;
      await closeHandle().catch(() => {});
      await unlinkIfPresent(temp);
    },
  };
}

/** Patches a streamed WAV header, fsyncs the temp file and returns its size. @throws for an empty file. */
async function finishTemp(temp: string, format: OutputFormat): Promise<number> {
  const fh = await open(temp, 'r+');
  try {
    const { size } = await fh.stat();
    if (size === 0) throw new AppError('CACHE_IO', `refusing to cache an empty file '${temp}'`);
    if (format === 'wav' && size >= WAV_HEADER_BYTES) {
      const header = Buffer.alloc(WAV_HEADER_BYTES);
      await fh.read(header, 0, WAV_HEADER_BYTES, 0);
      if (patchWavSizes(header, size)) await fh.write(header, 0, WAV_HEADER_BYTES, 0);
    }
    await fh.sync();
    return size;
  } finally {
    await fh.close();
  }
}

/** Writes the sidecar atomically (temp, fsync, rename). */
async function writeSidecar(final: string, meta: CacheMeta): Promise<void> {
  const path = sidecarPath(final);
  const temp = tempPath(path);
  try {
    await writeFile(temp, `${JSON.stringify(meta)}\n`, { flush: true });
    await rename(temp, path);
  } catch (err) {
    await unlinkIfPresent(temp).catch(() => {});
    throw err;
  }
}
