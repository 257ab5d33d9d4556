/**
 * LiveJob.holdFirstOutput: a reader that re-encodes a job's audio holds the engine's second sentence until its
 * first output exists; the speech waits on `holdsSettled()` (bounded by its ENCODED_WAIT_MS).
 */
import { describe, expect, it } from 'vitest';
import { LiveJob } from '../../src/say/live-audio.js';

/** True when `p` has settled within a few event-loop turns. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe('LiveJob holds', () => {
  it('settles at once without holds, and only once every hold settled', async () => {
    const job = new LiveJob('k', 'wav');
    expect(await settled(job.holdsSettled())).toBe(true);
    let first: () => void = () => {};
    let second: (err: Error) => void = () => {};
    job.holdFirstOutput(new Promise<void>((resolve) => (first = resolve)));
    job.holdFirstOutput(new Promise<void>((_, reject) => (second = reject)));
    const waiting = job.holdsSettled();
    expect(await settled(waiting)).toBe(false);
    first();
    expect(await settled(waiting)).toBe(false);
    second(new Error('ffmpeg failed')); // a failed reader holds nothing
    expect(await settled(waiting)).toBe(true);
    expect(await settled(job.holdsSettled())).toBe(true); // settled holds are forgotten
  });
});
