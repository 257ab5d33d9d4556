/**
 * Slots of the one cap on ffmpeg processes (DESIGN "Delivery and limits"; option `limits.ffmpeg_processes`),
 * used by the wrapper in ffmpeg.ts, through which every encode, transcode, decode and recording starts ffmpeg.
 * At most `limit` run at once; the rest wait in arrival order, and a waiting start whose client went away is
 * dropped without ever running.
 *
 * Starts are also paced: spawning is synchronous in Node (libuv forks the whole hub process), and on a loaded
 * 2-core machine one fork took 8–57 ms (24 in a burst: 0.7 s with nothing else running). After a start that
 * took d ms the next one waits d ms, so bursts (100 speech requests, 24 recorders at once) use at most half of
 * the event loop and the hub keeps answering in between. An idle hub starts its first ffmpeg at once.
 */

/** Default of `limits.ffmpeg_processes`. */
export const DEFAULT_FFMPEG_PROCESSES = 32;

let limit = DEFAULT_FFMPEG_PROCESSES;
let running = 0;
/** Starts waiting for a slot (or for the pacing), oldest first. */
const waiting: Array<() => void> = [];
/** performance.now() before which no start may happen (pacing). */
let nextStartAt = 0;
let timer: NodeJS.Timeout | undefined;

/** Sets the cap (the hub calls it with `limits.ffmpeg_processes`); waiting starts go if it grew. */
export function setFfmpegLimit(max: number): void {
  limit = Math.max(1, Math.floor(max));
  startWaiting();
}

/** ffmpeg processes running now, starts waiting now, and the cap. */
export function ffmpegLoad(): { running: number; waiting: number; limit: number } {
  return { running, waiting: waiting.length, limit };
}

/** True when a start may happen at once: a free slot, nobody in line, and no pacing pause. */
export function mayStartNow(): boolean {
  return running < limit && waiting.length === 0 && performance.now() >= nextStartAt;
}

/**
 * Takes a slot for a start that happens now; call `spawned` right after the spawn (to pace the next) and
 * `release` once the process has exited (exactly once; later calls are ignored).
 */
export function takeSlot(): { spawned(startedAt: number): void; release(): void } {
  running++;
  let released = false;
  return {
    spawned(startedAt) {
      const now = performance.now();
      nextStartAt = now + (now - startedAt);
    },
    release() {
      if (released) return;
      released = true;
      running--;
      startWaiting();
    },
  };
}

/** Ways to free a slot held by an idle process (spare encoders); see onSlotShortage. */
const reclaimers = new Set<() => boolean>();

/**
 * Registers `reclaim`, called while starts wait because every slot is taken: it should end one idle
 * process of its own (whose exit frees a slot) and return true, or return false when it has none. Idle spares
 * thus never make real work wait. Returns the function that unregisters it.
 */
export function onSlotShortage(reclaim: () => boolean): () => void {
  reclaimers.add(reclaim);
  return () => reclaimers.delete(reclaim);
}

/** Queues `start`, called (with a slot to take) when its turn comes. */
export function waitForSlot(start: () => void): void {
  waiting.push(start);
  startWaiting();
}

/** Removes a queued `start` that has not run; false when it ran already (or was never queued). */
export function leaveQueue(start: () => void): boolean {
  const at = waiting.indexOf(start);
  if (at < 0) return false;
  waiting.splice(at, 1);
  return true;
}

/** True while `start` waits in line. */
export function isWaiting(start: () => void): boolean {
  return waiting.includes(start);
}

function startWaiting(): void {
  while (running < limit && waiting.length > 0) {
    const pause = nextStartAt - performance.now();
    if (pause > 0) {
      if (timer === undefined) {
        timer = setTimeout(() => {
          timer = undefined;
          startWaiting();
        }, pause);
      }
      return;
    }
    (waiting.shift() as () => void)();
  }
  // Starts wait for a slot (not for the pacing): an idle process asked to end frees one when it exits.
  if (waiting.length > 0 && running >= limit) {
    for (const reclaim of reclaimers) if (reclaim()) break;
  }
}
