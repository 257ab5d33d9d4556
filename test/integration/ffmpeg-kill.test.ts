/**
 * The ffmpeg wrapper's last resort: an aborted ffmpeg that ignores SIGTERM is killed with SIGKILL after the
 * grace time, and `done` settles. The binary is the stand-in test/servers/ffmpeg-ignoring-sigterm, chosen
 * through `FFMPEG_PATH` before this file's first ffmpeg call (vitest isolates test files).
 */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runFfmpeg } from '../../src/audio/ffmpeg.js';
import { AppError } from '../../src/shared/errors.js';

const STUBBORN = fileURLToPath(new URL('../servers/ffmpeg-ignoring-sigterm', import.meta.url));

it('kills an aborted ffmpeg that ignores SIGTERM with SIGKILL, and settles done', async () => {
  process.env.FFMPEG_PATH = STUBBORN;
  const controller = new AbortController();
  const ff = runFfmpeg(['-f', 's16le', '-i', 'pipe:0', '-f', 'ogg', 'pipe:1'], controller.signal);
  await new Promise<void>((resolve) => ff.stdout.once('data', () => resolve())); // SIGTERM is now ignored
  controller.abort(new AppError('ABORTED', 'stop'));
  // The stand-in never exits on its own and ignores SIGTERM: only SIGKILL lets `done` settle.
  await expect(ff.done).rejects.toMatchObject({ code: 'ABORTED' });
  expect(() => process.kill(ff.pid as number, 0)).toThrow();
});
