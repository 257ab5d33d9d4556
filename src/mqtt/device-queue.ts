import { NAME_PATTERN } from '../recorder/index.js';
import type { Log } from '../shared/log.js';

/** How many refused device names are remembered so each is logged once (bounded against floods). */
export const MAX_REMEMBERED_REFUSALS = 1000;

/**
 * Runs each device's work strictly in order (one promise chain per device), so `start`, `audio` and `stop`
 * of a device never overtake each other while `open` awaits ffmpeg and the disk. A failing job is logged by
 * the caller's job itself; the chain never rejects.
 */
export class DeviceQueue {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly log: Log) {}

  /** Appends `job` to `device`'s chain. */
  run(device: string, job: () => Promise<void>): void {
    const previous = this.tails.get(device) ?? Promise.resolve();
    const next = previous.then(job).catch((err: unknown) => {
      this.log.error({ device, err: (err as Error).message }, 'recorder job failed');
    });
    this.tails.set(device, next);
    void next.then(() => {
      if (this.tails.get(device) === next) this.tails.delete(device);
    });
  }

  /** Resolves once every queued job has run. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.allSettled([...this.tails.values()]);
  }
}

/**
 * Remembers the last refusal of each device, so a device that keeps sending while refused (a full disk, a bad
 * frame per chunk) is logged once per distinct error, not per message. Bounded by {@link MAX_REMEMBERED_REFUSALS}.
 */
export class RefusalMemo {
  private readonly last = new Map<string, string>();

  /** Records `message` as `device`'s refusal; true when it differs from the last one (log it then). */
  isNew(device: string, message: string): boolean {
    if (this.last.get(device) === message) return false;
    if (this.last.size >= MAX_REMEMBERED_REFUSALS) this.last.clear();
    this.last.set(device, message);
    return true;
  }

  /** Forgets `device`'s refusal (it was accepted again). */
  clear(device: string): void {
    this.last.delete(device);
  }
}

/** A device name checker that logs each refused name once. Returns true for a valid name. */
export function deviceNameGuard(log: Log, what: string): (device: string, topic: string) => boolean {
  const refused = new Set<string>();
  return (device, topic) => {
    if (NAME_PATTERN.test(device)) return true;
    if (!refused.has(device)) {
      if (refused.size >= MAX_REMEMBERED_REFUSALS) refused.clear();
      refused.add(device);
      log.warn(
        { topic: topic.slice(0, 200), code: 'INVALID_DEVICE' },
        `${what} refused: device names are 1-64 letters, digits, '_' or '-'`,
      );
    }
    return false;
  };
}
