/**
 * Writing one cache entry atomically: bytes go to a temp file in the final folder; commit fsyncs it,
 * writes the sidecar (temp + rename), then renames the audio into place. Abort deletes the temp file,
 * so a failed or partial synthesis never leaves an entry.
 *
 * Few system calls (issue 13): every file operation is a round trip through libuv's thread pool, which cost
 * more CPU than the bytes themselves (a say wrote about ten 2 KB pages, each its own `write`). So written
 * buffers are held and go to the temp file in one `writev` once FLUSH_BYTES are held, once the oldest held
 * buffer is FLUSH_AFTER_MS old, or at commit; a short say thus opens, writes, fsyncs and closes its temp file
 * once, at commit, on the handle it wrote with. Nobody reads the temp file while it is written: live
 * listeners get the pages from the live job (say/live-audio.ts) as they are produced. The shard folder is
 * made only when opening the temp file says it is missing. The folder is not fsynced after the renames: a
 * power cut may forget a fresh entry (its temp file is removed at start and the next miss makes it again),
 * but never leaves a torn one, since both files are fsynced before they are renamed.
 *
 * A full disk does not lose the audio: when the disk refuses a write or the commit (ENOSPC, EDQUOT, EROFS) and
 * the store offers `keepInMemory`, the temp file is dropped and the entry is committed in memory from the
 * buffers written so far (the writer keeps references to them; the live job holds the same buffers, so this
 * costs no copy until the commit joins them).
 */

import type { FileHandle } from 'node:fs/promises';
import { rename } from 'node:fs/promises';
import type { OutputFormat } from '../audio/format.js';
import { patchWavSizes } from '../audio/wav.js';
import { AppError } from '../shared/errors.js';
import {
  type CacheEntry,
  type CacheMeta,
  ioError,
  isSpaceError,
  mediaPath,
  tempPath,
  unlinkIfPresent,
} from './files.js';
import { finishOwn, finishTemp, HeldBytes, openTemp, writeSidecar } from './writer-files.js';

export { FLUSH_AFTER_MS, FLUSH_BYTES } from './writer-files.js';

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
  /**
   * Appends bytes to the temp file (or, once the disk refused them and memory is offered, to memory only).
   * @throws AppError CACHE_IO, or DISK_FULL when the disk is full and no memory is offered.
   */
  write(buf: Buffer): Promise<void>;
  /**
   * fsyncs, writes the sidecar, renames into place and indexes the entry. WAV gets its header sizes patched.
   * On a disk-space error with memory offered, the entry is committed in memory instead (`data` set, path '').
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
  /**
   * Holds an entry the disk refused in memory (the store's bounded memory index); absent: disk errors are
   * thrown as they are. Resolves to the entry, or undefined when it does not fit the memory bound.
   */
  keepInMemory?(entry: CacheEntry): CacheEntry | undefined;
  /** Told about each disk-space error (the store marks itself degraded). */
  onSpaceError?(err: unknown): void;
  /** Told after each entry committed to disk (the store leaves its degraded state). */
  onDiskCommit?(): void;
}

/** Creates a writer for a validated key and format (see CacheWriter). No file exists until bytes are flushed. */
export function createCacheWriter(deps: WriterDeps): CacheWriter {
  const final = mediaPath(deps.dir, deps.key, deps.format);
  const temp = tempPath(final);
  let fh: FileHandle | undefined;
  let ended = false;
  /** Every buffer written, kept only while a memory fallback is offered. */
  const parts: Buffer[] = [];
  /** True once the disk refused this entry: bytes go to `parts` only. */
  let inMemory = false;
  const held = new HeldBytes(deps.format);

  const ensureOpen = async (): Promise<FileHandle> => {
    fh ??= await openTemp(deps.dir, deps.key, temp);
    return fh;
  };
  const flush = async (): Promise<void> => {
    if (held.bytes > 0) await held.writeTo(await ensureOpen());
  };
  const closeHandle = async (): Promise<void> => {
    const h = fh;
    fh = undefined;
    await h?.close();
  };
  const assertOpen = (): void => {
    if (ended) throw new AppError('INTERNAL', `cache writer for ${deps.key}.${deps.format} already ended`);
  };

  const commitInMemory = (info: CommitInfo): CacheEntry | undefined => memoryEntry(deps, parts, info);

  return {
    key: deps.key,
    format: deps.format,
    tempPath: temp,
    async write(buf) {
      assertOpen();
      if (deps.keepInMemory) parts.push(buf);
      if (inMemory) return;
      held.add(buf);
      if (!held.due()) return;
      try {
        await flush();
      } catch (err) {
        if (!deps.keepInMemory || !isSpaceError(err)) throw ioError(err, 'write', temp);
        inMemory = true;
        deps.onSpaceError?.(err);
        await closeHandle().catch(() => {});
        await unlinkIfPresent(temp).catch(() => {});
      }
    },
    async commit(info) {
      assertOpen();
      ended = true;
      if (inMemory) return commitInMemory(info);
      try {
        const bytes = held.written + held.bytes > 0 ? await finishOwn(await ensureOpen(), held) : undefined;
        await closeHandle();
        const meta = await publishTemp(deps, temp, final, info, bytes);
        parts.length = 0;
        deps.onDiskCommit?.();
        return await deps.index(diskEntry(deps, final, meta));
      } catch (err) {
        await closeHandle().catch(() => {});
        await unlinkIfPresent(temp).catch(() => {});
        if (deps.keepInMemory && isSpaceError(err) && parts.length) {
          deps.onSpaceError?.(err);
          return commitInMemory(info);
        }
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

/**
 * Joins the buffers written so far (`parts`, emptied) into a memory entry (WAV sizes patched) and hands it to
 * the store. @throws CACHE_IO when nothing was written.
 */
function memoryEntry(deps: WriterDeps, parts: Buffer[], info: CommitInfo): CacheEntry | undefined {
  const data = Buffer.concat(parts);
  parts.length = 0;
  if (data.length === 0) throw new AppError('CACHE_IO', `refusing to cache empty audio ${deps.key}`);
  if (deps.format === 'wav') patchWavSizes(data, data.length);
  const meta = metaOf(deps, info, data.length);
  const entry: CacheEntry = {
    key: deps.key,
    format: deps.format,
    path: '',
    bytes: data.length,
    durationMs: meta.duration_ms,
    meta,
    data,
  };
  return deps.keepInMemory?.(entry);
}

/**
 * Writes the sidecar and renames the temp file to `final`. `bytes`: the temp file's size when the writer wrote
 * and fsynced it; undefined when a tool wrote it (then it is patched, fsynced and measured here).
 */
async function publishTemp(
  deps: WriterDeps,
  temp: string,
  final: string,
  info: CommitInfo,
  bytes: number | undefined,
): Promise<CacheMeta> {
  const meta = metaOf(deps, info, bytes ?? (await finishTemp(temp, deps.format)));
  await writeSidecar(final, meta);
  await rename(temp, final);
  return meta;
}

/** The index entry of a file committed to disk at `path` with sidecar `meta`. */
function diskEntry(deps: WriterDeps, path: string, meta: CacheMeta): CacheEntry {
  return { key: deps.key, format: deps.format, path, bytes: meta.bytes, durationMs: meta.duration_ms, meta };
}

/** The sidecar of an entry of `bytes` bytes committed now. */
function metaOf(deps: WriterDeps, info: CommitInfo, bytes: number): CacheMeta {
  return {
    key: deps.key,
    format: deps.format,
    text: info.text,
    engine: info.engine,
    voice: info.voice,
    duration_ms: Math.round(info.durationMs),
    bytes,
    created_at: new Date().toISOString(),
  };
}
