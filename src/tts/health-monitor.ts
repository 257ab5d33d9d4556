import type { Log } from '../shared/log.js';
import type { EngineEntry } from './dispatcher.js';
import type { EngineHealth } from './engine.js';

/** One engine's row in GET /api/engines and tts/status. */
export interface EngineStatus {
  name: string;
  type: string;
  healthy: boolean;
  checked_at: string | null;
  error?: string;
}

/** Probes every engine at start and every `intervalMs`; keeps the last answer of each. */
export interface HealthMonitor {
  start(): Promise<void>;
  stop(): void;
  /** Probes all engines now and returns their rows. */
  probeAll(): Promise<EngineStatus[]>;
  /** The last known rows, in configured order. */
  snapshot(): EngineStatus[];
  /** Records the outcome of real traffic, so health follows failures between probes. */
  report(engine: string, healthy: boolean, error?: string): void;
  /** Called after each change of any engine's health. */
  onChange?: () => void;
}

/** Builds the monitor. @param intervalMs time between probes, default 30 000 ms. */
export function createHealthMonitor(opts: {
  entries: readonly EngineEntry[];
  intervalMs?: number;
  log: Log;
}): HealthMonitor {
  const last = new Map<string, EngineHealth>();
  let timer: NodeJS.Timeout | undefined;
  const controller = new AbortController();

  const row = (entry: EngineEntry): EngineStatus => {
    const h = last.get(entry.engine.name);
    const status: EngineStatus = {
      name: entry.engine.name,
      type: entry.engine.type,
      healthy: h?.healthy ?? false,
      checked_at: h?.checkedAt ? new Date(h.checkedAt).toISOString() : null,
    };
    if (h?.error) status.error = h.error;
    return status;
  };

  const monitor: HealthMonitor = {
    async start() {
      await monitor.probeAll();
      timer = setInterval(() => {
        monitor.probeAll().catch((err) => opts.log.warn({ err }, 'engine probe failed'));
      }, opts.intervalMs ?? 30_000);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      controller.abort();
    },
    async probeAll() {
      await Promise.all(
        opts.entries.map(async (entry) => {
          const before = last.get(entry.engine.name)?.healthy;
          const health = await entry.engine.probe(
            AbortSignal.any([controller.signal, AbortSignal.timeout(5000)]),
          );
          last.set(entry.engine.name, health);
          if (before !== health.healthy) {
            opts.log.info(
              { engine: entry.engine.name, healthy: health.healthy, err: health.error },
              'engine health',
            );
            monitor.onChange?.();
          }
        }),
      );
      return monitor.snapshot();
    },
    snapshot: () => opts.entries.map(row),
    report(engine, healthy, error) {
      const before = last.get(engine)?.healthy;
      last.set(engine, { healthy, checkedAt: Date.now(), error });
      if (before !== healthy) monitor.onChange?.();
    },
  };
  return monitor;
}
