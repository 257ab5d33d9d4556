/**
 * Writing one cache entry atomically: bytes go to a temp file in the final folder; commit fsyncs it,
 * writes the sidecar (temp + rename), then renames the audio into place. Abort deletes the temp file,
 * so a failed or partial synthesis never leaves an entry.
 *
 * A full disk does not lose the audio: when the disk refuses a write or the commit (ENOSPC, EDQUOT, EROFS) and
 * the store offers `keepInMemory`, the temp file is dropped and the entry is committed in memory from the
 * buffers written so far (the writer keeps references to them; the live job holds the same buffers, so this
 * costs no copy until the commit joins them).
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
  isSpaceError,
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

/** Creates a writer for a validated key and format (see CacheWriter). No file exists until the first write. */
export function createCacheWriter(deps: WriterDeps): CacheWriter {
  const final = mediaPath(deps.dir, deps.key, deps.format);
  const temp = tempPath(final);
  let fh: FileHandle | undefined;
  let ended = false;
  /** Every buffer written, kept only while a memory fallback is offered. */
  const parts: Buffer[] = [];
  /** True once the disk refused this entry: bytes go to `parts` only. */
  let inMemory = false;

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

  const commitInMemory = (info: CommitInfo): CacheEntry | undefined => memoryEntry(deps, parts, info);

  return {
    key: deps.key,
    format: deps.format,
    tempPath: temp,
    async write(buf) {
      assertOpen();
      if (deps.keepInMemory) parts.push(buf);
      if (inMemory) return;
      try {
        await (await ensureOpen()).write(buf);
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
        await closeHandle();
        const { bytes, meta } = await publishTemp(deps, temp, final, info);
        parts.length = 0;
        deps.onDiskCommit?.();
        return await deps.index({
          key: deps.key,
          format: deps.format,
          path: final,
          bytes,
          durationMs: meta.duration_ms,
          meta,
        });
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

/** Finishes the temp file, writes its sidecar, renames it to `final` and syncs the shard folder. */
async function publishTemp(
  deps: WriterDeps,
  temp: string,
  final: string,
  info: CommitInfo,
): Promise<{ bytes: number; meta: CacheMeta }> {
  const bytes = await finishTemp(temp, deps.format);
  const meta = metaOf(deps, info, bytes);
  await writeSidecar(final, meta);
  await rename(temp, final);
  await syncDir(shardDir(deps.dir, deps.key));
  return { bytes, meta };
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
