/**
 * The file steps of a cache writer (writer.ts): bytes held before they are written, opening the temp file,
 * finishing it (WAV sizes, fsync) and the sidecar. Split from writer.ts; the reasons are told there.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { OutputFormat } from '../audio/format.js';
import { patchWavSizes, WAV_HEADER_BYTES } from '../audio/wav.js';
import { AppError } from '../shared/errors.js';
import { type CacheMeta, shardDir, sidecarPath, tempPath, unlinkIfPresent } from './files.js';

/** Held bytes that are written to the temp file at once (see writer.ts). */
export const FLUSH_BYTES = 64 * 1024;
/** Held bytes older than this, in ms, are written with the next write (see writer.ts). */
export const FLUSH_AFTER_MS = 1000;

/**
 * Buffers written but not yet in the temp file (see writer.ts), the bytes already in it, and a copy of
 * a WAV file's first WAV_HEADER_BYTES (its sizes are patched at commit without reading the file back).
 */
export class HeldBytes {
  private bufs: Buffer[] = [];
  /** Bytes held, not yet written. */
  bytes = 0;
  /** Bytes written to the temp file. */
  written = 0;
  /** performance.now() when the oldest held buffer came. */
  private since = 0;
  /** WAV only: the file's first bytes, up to WAV_HEADER_BYTES. */
  head: Buffer | undefined;

  constructor(format: OutputFormat) {
    if (format === 'wav') this.head = Buffer.alloc(0);
  }

  add(buf: Buffer): void {
    if (buf.length === 0) return;
    if (this.head && this.head.length < WAV_HEADER_BYTES) {
      this.head = Buffer.concat([this.head, buf.subarray(0, WAV_HEADER_BYTES - this.head.length)]);
    }
    if (this.bufs.length === 0) this.since = performance.now();
    this.bufs.push(buf);
    this.bytes += buf.length;
  }

  /** True when the held bytes should be written now. */
  due(): boolean {
    return this.bytes >= FLUSH_BYTES || (this.bytes > 0 && performance.now() - this.since >= FLUSH_AFTER_MS);
  }

  /** Writes the held buffers to `fh` in one `writev` (libuv repeats it until all are written). */
  async writeTo(fh: FileHandle): Promise<void> {
    const bufs = this.bufs;
    const bytes = this.bytes;
    this.bufs = [];
    this.bytes = 0;
    await fh.writev(bufs);
    this.written += bytes;
  }
}

/** Opens a fresh temp file of `key` for writing, making its shard folder only when it is missing. */
export async function openTemp(dir: string, key: string, temp: string): Promise<FileHandle> {
  try {
    return await open(temp, 'w');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(shardDir(dir, key), { recursive: true });
    return await open(temp, 'w');
  }
}

/**
 * Writes what is held, patches a streamed WAV header in place, and fsyncs the temp file on the handle that wrote
 * it; returns its size in bytes. @throws CACHE_IO for an empty file.
 */
export async function finishOwn(fh: FileHandle, held: HeldBytes): Promise<number> {
  if (held.bytes > 0) await held.writeTo(fh);
  const size = held.written;
  if (size === 0) throw new AppError('CACHE_IO', 'refusing to cache an empty file');
  if (held.head && size >= WAV_HEADER_BYTES) {
    const header = Buffer.from(held.head);
    if (patchWavSizes(header, size)) await fh.write(header, 0, WAV_HEADER_BYTES, 0);
  }
  await fh.sync();
  return size;
}

/**
 * For a temp file a tool wrote: patches a streamed WAV header, fsyncs the file and returns its size.
 * @throws for an empty file.
 */
export async function finishTemp(temp: string, format: OutputFormat): Promise<number> {
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

/**
 * Writes the sidecar atomically (temp, rename), without an fsync: a sidecar a power cut tore or emptied does
 * not parse, and every reader parses it (the rebuild at start removes such an entry with its audio; a lookup
 * takes it for a miss), so it costs at most a cache entry, never a wrong one. The audio file, whose bytes
 * nobody checks, is fsynced before its rename (`finishOwn`, `finishTemp`).
 */
export async function writeSidecar(final: string, meta: CacheMeta): Promise<void> {
  const path = sidecarPath(final);
  const temp = tempPath(path);
  try {
    await writeFile(temp, `${JSON.stringify(meta)}\n`);
    await rename(temp, path);
  } catch (err) {
    await unlinkIfPresent(temp).catch(() => {});
    throw err;
  }
}
