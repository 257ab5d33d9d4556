/**
 * The duration of an Ogg Opus file without decoding it: the last page's granule position minus the pre-skip, at
 * 48 kHz. Source: RFC 7845 (Ogg encapsulation for Opus) §4 (granule position at 48 kHz) and §5.1 (OpusHead
 * pre-skip at byte 10); RFC 3533 §6 (Ogg page header: "OggS", granule position at byte 6, little-endian int64).
 */
import { open } from 'node:fs/promises';

const TAIL_BYTES = 64 * 1024;
const HEAD_BYTES = 512;
const OPUS_RATE_HZ = 48_000;

/** Pre-skip samples declared in the OpusHead packet in `head`, or 0 when absent. */
function preSkip(head: Buffer): number {
  const at = head.indexOf('OpusHead');
  return at >= 0 && at + 12 <= head.length ? head.readUInt16LE(at + 10) : 0;
}

/** The largest granule position of a complete-looking page header in `tail`, or undefined. */
function lastGranule(tail: Buffer): bigint | undefined {
  let at = tail.lastIndexOf('OggS');
  while (at >= 0) {
    if (at + 14 <= tail.length && tail[at + 4] === 0) {
      const granule = tail.readBigInt64LE(at + 6);
      // -1 marks a page on which no packet ends (RFC 3533 §6); look further back.
      if (granule >= 0n) return granule;
    }
    at = at > 0 ? tail.lastIndexOf('OggS', at - 1) : -1;
  }
  return undefined;
}

/**
 * Duration in ms of the Ogg Opus file at `path` (0 when it holds no audio page yet).
 * @throws the fs error when the file cannot be read.
 */
export async function oggOpusDurationMs(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    const tailLength = Math.min(TAIL_BYTES, size);
    const tail = Buffer.alloc(tailLength);
    await handle.read(tail, 0, tailLength, size - tailLength);
    const granule = lastGranule(tail);
    if (granule === undefined) return 0;
    const samples = Number(granule) - preSkip(head);
    return samples > 0 ? Math.round((samples / OPUS_RATE_HZ) * 1000) : 0;
  } finally {
    await handle.close();
  }
}
