/**
 * The WAV sidecar of a recording: every PCM byte received goes here first, so a dead encoder or a killed hub
 * loses nothing. The header is written with an unknown size and patched when the recording ends (or by
 * {@link repairSidecar} at recovery). Chunk layout: RIFF/WAVE, `fmt ` (PCM), `data`.
 */
import { type FileHandle, open } from 'node:fs/promises';
import type { AudioFormat } from '../audio/format.js';
import { WAV_UNKNOWN_DATA_BYTES, wavHeader } from '../audio/wav.js';
import { AppError } from '../shared/errors.js';

const MAX_HEADER_BYTES = 4096;

/** An open sidecar being appended to. */
export interface Sidecar {
  /** PCM bytes queued but not yet written. */
  readonly pendingBytes: number;
  /** PCM bytes written so far. */
  readonly writtenBytes: number;
  /** The first write error (ENOSPC for a full disk), if any; later appends are dropped. */
  readonly failure: Error | undefined;
  /** Queues PCM; never waits. */
  append(pcm: Buffer): void;
  /**
   * Writes what is queued, patches the header's sizes, fsyncs and closes.
   * @throws the first write error (the file is closed either way).
   */
  finish(): Promise<void>;
}

/**
 * Creates the sidecar at `path` and writes its header.
 * @param onFailure called once on the first write error.
 * @throws the fs error when the file cannot be created.
 */
export async function openSidecar(
  path: string,
  format: AudioFormat,
  onFailure: (err: Error) => void,
): Promise<Sidecar> {
  const header = wavHeader(format, WAV_UNKNOWN_DATA_BYTES);
  const handle = await open(path, 'wx');
  try {
    await handle.write(header, 0, header.length, 0);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return new FileSidecar(handle, header.length, onFailure);
}

class FileSidecar implements Sidecar {
  private queue: Buffer[] = [];
  private queued = 0;
  private written = 0;
  private error: Error | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly headerBytes: number,
    private readonly onFailure: (err: Error) => void,
  ) {}

  get pendingBytes(): number {
    return this.queued;
  }
  get writtenBytes(): number {
    return this.written;
  }
  get failure(): Error | undefined {
    return this.error;
  }

  append(pcm: Buffer): void {
    if (this.error) return;
    this.queue.push(pcm);
    this.queued += pcm.length;
    this.flushing ??= this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  /** Writes queued buffers in batches until the queue is empty. Never rejects: errors land in `failure`. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0 && !this.error) {
      const batch = this.queue;
      const bytes = this.queued;
      this.queue = [];
      try {
        await this.handle.writev(batch, this.headerBytes + this.written);
        this.written += bytes;
        this.queued -= bytes;
      } catch (err) {
        this.error = err instanceof Error ? err : new Error(String(err));
        this.queue = [];
        this.queued = 0;
        this.onFailure(this.error);
      }
    }
  }

  async finish(): Promise<void> {
    try {
      while (this.flushing) await this.flushing;
      if (this.error) throw this.error;
      await patchSizes(this.handle, this.headerBytes, this.written);
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }
}

/** Writes the RIFF size (offset 4) and the data size (just before the data) for `dataBytes` of PCM. */
async function patchSizes(handle: FileHandle, dataOffset: number, dataBytes: number): Promise<void> {
  const size = Buffer.alloc(4);
  size.writeUInt32LE(Math.min(0xffff_ffff, dataOffset - 8 + dataBytes));
  await handle.write(size, 0, 4, 4);
  size.writeUInt32LE(Math.min(0xffff_ffff, dataBytes));
  await handle.write(size, 0, 4, dataOffset - 4);
}

/** Where the PCM of a WAV file starts and in which format, found by walking its chunks. */
function readLayout(head: Buffer): { format: AudioFormat; dataOffset: number } | undefined {
  if (
    head.length < 12 ||
    head.toString('ascii', 0, 4) !== 'RIFF' ||
    head.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    return undefined;
  }
  let format: AudioFormat | undefined;
  let at = 12;
  while (at + 8 <= head.length) {
    const id = head.toString('ascii', at, at + 4);
    const size = head.readUInt32LE(at + 4);
    if (id === 'fmt ' && at + 24 <= head.length) {
      const channels = head.readUInt16LE(at + 10);
      const rateHz = head.readUInt32LE(at + 12);
      const widthBytes = head.readUInt16LE(at + 22) / 8;
      format = { rateHz, widthBytes, channels };
    } else if (id === 'data') {
      return format ? { format, dataOffset: at + 8 } : undefined;
    }
    at += 8 + size + (size % 2);
  }
  return undefined;
}

/**
 * Makes a sidecar left by a crash a valid WAV file: drops a trailing partial frame and writes the real sizes.
 * @returns its format and PCM size in bytes, or undefined when it is not a WAV file this recorder wrote.
 * @throws AppError STORAGE_IO when the file cannot be read or written.
 */
export async function repairSidecar(
  path: string,
): Promise<{ format: AudioFormat; dataBytes: number } | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r+');
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(MAX_HEADER_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    const layout = readLayout(head);
    if (!layout || layout.format.widthBytes < 1 || layout.format.channels < 1) return undefined;
    const frameBytes = layout.format.widthBytes * layout.format.channels;
    const dataBytes = Math.floor(Math.max(0, size - layout.dataOffset) / frameBytes) * frameBytes;
    await handle.truncate(layout.dataOffset + dataBytes);
    await patchSizes(handle, layout.dataOffset, dataBytes);
    await handle.sync();
    return { format: layout.format, dataBytes };
  } catch (err) {
    throw new AppError('STORAGE_IO', `cannot repair WAV sidecar ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await handle?.close();
  }
}
