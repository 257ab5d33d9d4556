/**
 * Duration of Ogg Opus audio without ffprobe, from the last page's granule position.
 * Facts: RFC 7845 §4 (granule positions count 48 kHz samples, minus the pre-skip from the OpusHead
 * packet, RFC 7845 §5.1) and RFC 3533 §6 (page header: "OggS", version 0, granule position at byte 6).
 */
import { open } from 'node:fs/promises';
import { AppError } from '../shared/errors.js';

const OPUS_RATE_PER_MS = 48;
/** The largest possible Ogg page (27 + 255 + 255 × 255 bytes): the last page always lies within this tail. */
const MAX_PAGE_BYTES = 65_307;
const HEAD_BYTES = 4096;

/** The OpusHead pre-skip in 48 kHz samples, or undefined when `head` holds no OpusHead packet. */
function preSkipSamples(head: Buffer): number | undefined {
  const at = head.indexOf('OpusHead', 0, 'latin1');
  if (at < 0 || at + 12 > head.length) return undefined;
  return head.readUInt16LE(at + 10);
}

/** The granule position of the last complete page in `tail`, or undefined. */
function lastGranule(tail: Buffer): bigint | undefined {
  if (tail.length < 27) return undefined;
  for (let at = tail.lastIndexOf('OggS', tail.length - 27, 'latin1'); at >= 0; ) {
    if (tail[at + 4] === 0 && at + 27 <= tail.length) {
      const granule = tail.readBigInt64LE(at + 6);
      if (granule >= 0n) return granule;
    }
    at = at > 0 ? tail.lastIndexOf('OggS', at - 1, 'latin1') : -1;
  }
  return undefined;
}

function durationMs(head: Buffer, tail: Buffer): number | undefined {
  const preSkip = preSkipSamples(head);
  const granule = lastGranule(tail);
  if (preSkip === undefined || granule === undefined) return undefined;
  return Math.max(0, Number(granule - BigInt(preSkip)) / OPUS_RATE_PER_MS);
}

/**
 * Duration in ms of a complete Ogg Opus stream held in memory: (last granule position − pre-skip) / 48.
 * Returns undefined when `buf` is not Ogg Opus or has no finished page yet.
 */
export function oggOpusDurationMs(buf: Buffer): number | undefined {
  return durationMs(buf.subarray(0, HEAD_BYTES), buf.subarray(Math.max(0, buf.length - MAX_PAGE_BYTES)));
}

/**
 * Duration in ms of an Ogg Opus file, reading only its first 4 KB and last 64 KB (the recorder lists
 * finished and recovered recordings with it).
 * Returns undefined when the file is not Ogg Opus.
 * @throws AppError CACHE_IO when the file cannot be read.
 */
export async function oggOpusFileDurationMs(path: string): Promise<number | undefined> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
      await fh.read(head, 0, head.length, 0);
      const tail = Buffer.alloc(Math.min(MAX_PAGE_BYTES, size));
      await fh.read(tail, 0, tail.length, size - tail.length);
      return durationMs(head, tail);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new AppError('CACHE_IO', `cannot read Ogg file '${path}': ${(err as Error).message}`, {
      cause: err,
    });
  }
}
