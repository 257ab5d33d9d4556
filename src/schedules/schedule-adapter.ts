/**
 * Timed work from the `schedules[]` option: announcements (`say` at a cron time, optionally to a `target` or
 * group, with a `chime` and `chime_after`; a target's preset applies as to any request) and
 * pre-caching of listed phrases, so the first real request for them is a cache hit. node-cron runs the timers
 * (5 fields, or 6 with seconds first); expressions are checked when the options are validated
 * (`cronProblems` in config/schema.ts), so a bad one never reaches here.
 */
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import type { ScheduleOptions } from '../config/schema.js';
import { toSayRequest } from '../inputs/say-payload.js';
import type { RequestDefaults } from '../say/request.js';
import type { SayService } from '../say/service.js';
import { toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';

/** The running schedules. */
export interface Schedules {
  /** Starts every schedule's timer. */
  start(): void;
  /** Stops the timers and aborts runs in progress. */
  stop(): void;
  /** Runs schedule `index` now (tests, the panel); resolves when its says are done. Never throws. */
  runNow(index: number): Promise<void>;
}

/**
 * Builds the schedules; nothing runs until `start()`. A run that is still going when its next time comes is
 * skipped (node-cron `noOverlap`). Failures are logged at warn; they never stop the timer.
 * @param say the say service (its cache and fallback apply to every run).
 * @param maxTextChars the `max_text_chars` option, applied to scheduled texts as to any request.
 */
export function createSchedules(opts: {
  schedules: readonly ScheduleOptions[];
  say: SayService;
  maxTextChars: number;
  /** Format of scheduled and pre-cached audio (`default_format`, so later requests hit the cache). */
  defaults?: RequestDefaults;
  /**
   * Several hubs with the same schedules (a share group): a dir on the shared volume where each firing is
   * claimed (see {@link claimFiring}); only the hub that claims it runs it. Absent: every firing runs.
   */
  claimDir?: string;
  log: Log;
}): Schedules {
  const { log } = opts;
  const tasks: ScheduledTask[] = [];
  let controller = new AbortController();

  const sayOne = async (index: number, body: Record<string, unknown>): Promise<void> => {
    try {
      const request = toSayRequest(body, opts.maxTextChars, opts.defaults);
      const result = await opts.say.say(request, controller.signal);
      log.info({ schedule: index, id: result.id, cached: result.cached }, 'schedule said');
    } catch (err) {
      const e = toAppError(err);
      log.warn({ schedule: index, code: e.code, err: e.message }, 'schedule failed');
    }
  };

  const run = async (index: number): Promise<void> => {
    const s = opts.schedules[index];
    if (!s) return;
    if (s.say !== undefined) {
      const body: Record<string, unknown> = { text: s.say };
      if (s.target) body.target = s.target;
      if (s.chime !== undefined) body.chime = s.chime;
      if (s.chime_after !== undefined) body.chime_after = s.chime_after;
      await sayOne(index, body);
    }
    // One phrase at a time: pre-caching must not crowd out live requests on the engines.
    for (const phrase of s.precache ?? []) {
      if (controller.signal.aborted) return;
      await sayOne(index, { text: phrase });
    }
  };

  return {
    start() {
      controller = new AbortController();
      opts.schedules.forEach((s, index) => {
        const fire = async (ctx: TaskContext): Promise<void> => {
          if (opts.claimDir && !(await claimFiring(opts.claimDir, index, ctx.date, log))) return;
          await run(index);
        };
        const task = cron.schedule(s.cron, fire, { name: `schedule-${index}`, noOverlap: true });
        tasks.push(task);
      });
      if (tasks.length) log.info({ schedules: tasks.length }, 'schedules started');
    },
    stop() {
      controller.abort();
      for (const task of tasks.splice(0)) {
        task.stop();
        void Promise.resolve(task.destroy()).catch(() => {});
      }
    },
    runNow: run,
  };
}

/** Claim files older than this are removed when a new firing is claimed. */
const CLAIM_KEEP_MS = 24 * 3600 * 1000;

/**
 * Claims firing `index` at `at` (the time node-cron scheduled it, to the second) for this hub: creates
 * `<dir>/<index>-<epoch s>` exclusively (`open` with `wx`, O_CREAT|O_EXCL, atomic on local disks and on NFS 3+;
 * see DOCS "Two hubs" for SMB). True for the one hub that created it; false for the others, which skip the
 * firing. Old claim files are removed along the way. A disk error is logged and counts as claimed, so a
 * broken share volume never silences an announcement (it may then play on two hubs).
 */
export async function claimFiring(dir: string, index: number, at: Date, log: Log): Promise<boolean> {
  const name = `${index}-${Math.floor(at.getTime() / 1000)}`;
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(join(dir, name), 'wx');
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    log.warn({ err: (err as Error).message, dir }, 'schedule claim failed; running it here');
    return true;
  }
  void removeOldClaims(dir).catch(() => {});
  return true;
}

async function removeOldClaims(dir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const s = await stat(path).catch(() => undefined);
    if (s && now - s.mtimeMs > CLAIM_KEEP_MS) await unlink(path).catch(() => {});
  }
}
