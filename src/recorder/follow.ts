/**
 * Reading a recording's file while it grows, for `GET /api/recordings/<id>/audio`: the bytes written so far, then
 * new bytes as the live encoder appends them, until the recording ends. The open descriptor survives the rename
 * `.partial.opus` → `.opus` (same file), so the reader gets the whole recording.
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often a follower looks for new bytes at the end of a growing file, in ms. */
export const FOLLOW_POLL_MS = 200;
const READ_BYTES = 64 * 1024;

/**
 * Yields the file at `path` from the start; at its end, waits while `growing()` is true and yields what is
 * appended; ends once `growing()` is false and the end is reached. Aborting `signal` ends it with the abort
 * reason.
 * @throws the fs error when the file cannot be opened.
 */
async function* followFile(
  path: string,
  growing: () => boolean,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    let position = 0;
    for (;;) {
      signal?.throwIfAborted();
      const stillGrowing = growing();
      const buf = Buffer.allocUnsafe(READ_BYTES);
      const { bytesRead } = await handle.read(buf, 0, READ_BYTES, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield buf.subarray(0, bytesRead);
        continue;
      }
      // Growth was checked before the read: a recording that ended meanwhile gets one more pass.
      if (!stillGrowing) return;
      await sleep(FOLLOW_POLL_MS, undefined, { signal });
    }
  } finally {
    await handle.close();
  }
}

/** {@link followFile} as a byte `Readable` (what an HTTP reply sends). */
export function followStream(path: string, growing: () => boolean, signal?: AbortSignal): Readable {
  return Readable.from(followFile(path, growing, signal), { objectMode: false });
}
