import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Dispatcher, EngineEntry } from './dispatcher.js';
import type { EngineHealth } from './engine.js';
import type { BreakerState } from './engine-breaker.js';

/** One engine's row in GET /api/engines and tts/status (snake_case: it goes out as JSON as it is). */
export interface EngineStatus {
  name: string;
  type: string;
  /** `wyoming`, `http`, `cli`, `xtts_api`, `xtts_stream`, `coqui`, `openai`; null when unknown. */
  transport: string | null;
  /** Last probe or request succeeded and the breaker is closed. */
  healthy: boolean;
  breaker: BreakerState;
  /** ISO time of the last probe or request outcome; null before the first. */
  checked_at: string | null;
  error?: string;
  /** The error's code; ENGINE_MISCONFIGURED: the engine cannot run as configured (a missing command or model). */
  code?: string;
  max_parallel: number;
  /** Requests synthesizing on the engine now. */
  active: number;
  /** Requests waiting for one of its slots. */
  queued: number;
  /** The configured default voice; null: the engine's own default. */
  voice: string | null;
}

/**
 * Probes every engine at start and every `intervalMs`; keeps the last answer of each, updated between
 * probes by the dispatcher's outcomes (real traffic). While an engine's breaker is open, it runs the
 * half-open trial itself once the reset time has passed (a probe through the breaker), so an engine that
 * answers again is back in service without waiting for traffic.
 */
export interface HealthMonitor {
  start(): Promise<void>;
  stop(): void;
  /** Probes all engines now and returns their rows. */
  probeAll(): Promise<EngineStatus[]>;
  /** The last known rows, in configured order. */
  snapshot(): EngineStatus[];
  /** Records the outcome of real traffic, so health follows failures between probes. */
  report(engine: string, healthy: boolean, error?: string, code?: string): void;
  /** Called after each change of any engine's health or breaker state. */
  onChange?: () => void;
}

/** Options of {@link createHealthMonitor}. */
export interface HealthMonitorOptions {
  entries: readonly EngineEntry[];
  /** Source of outcomes, loads and breakers. */
  dispatcher: Dispatcher;
  /** Time between probes of every engine, default 30 000 ms. */
  intervalMs?: number;
  /** Time between checks for breakers due a half-open trial, default 500 ms. */
  trialIntervalMs?: number;
  log: Log;
}

/** Builds the monitor and subscribes it to the dispatcher's outcomes and breaker changes. */
export function createHealthMonitor(opts: HealthMonitorOptions): HealthMonitor {
  const { dispatcher, log } = opts;
  const last = new Map<string, EngineHealth>();
  const timers: NodeJS.Timeout[] = [];
  const controller = new AbortController();

  const row = (entry: EngineEntry): EngineStatus => {
    const { name } = entry.engine;
    const h = last.get(name);
    const breaker = dispatcher.breaker(name);
    const state = breaker.state();
    const status: EngineStatus = {
      name,
      type: entry.engine.type,
      transport: entry.transport ?? null,
      healthy: (h?.healthy ?? false) && state === 'closed',
      breaker: state,
      checked_at: h?.checkedAt ? new Date(h.checkedAt).toISOString() : null,
      max_parallel: entry.maxParallel,
      ...dispatcher.load(name),
      voice: entry.voice ?? null,
    };
    const error = h?.error ?? (state === 'closed' ? undefined : breaker.lastError);
    if (error) status.error = error;
    if (h?.error && h.code) status.code = h.code;
    return status;
  };

  const probeSignal = (entry: EngineEntry): AbortSignal =>
    AbortSignal.any([controller.signal, AbortSignal.timeout(Math.min(5000, entry.timeoutMs))]);

  /** The half-open trial: a probe through the breaker; an unhealthy answer counts as an engine fault. */
  async function trial(entry: EngineEntry): Promise<void> {
    const breaker = dispatcher.breaker(entry.engine.name);
    if (breaker.state() !== 'open' || !breaker.admits()) return;
    try {
      await breaker.execute(async () => {
        const health = await entry.engine.probe(probeSignal(entry));
        if (!health.healthy) {
          throw new AppError(
            'ENGINE_UNAVAILABLE',
            health.error ?? `engine '${entry.engine.name}' is unhealthy`,
          );
        }
      });
      monitor.report(entry.engine.name, true);
    } catch (err) {
      monitor.report(entry.engine.name, false, (err as Error).message);
    }
  }

  const monitor: HealthMonitor = {
    async start() {
      await monitor.probeAll();
      const probing = setInterval(() => {
        monitor.probeAll().catch((err) => log.warn({ err }, 'engine probe failed'));
      }, opts.intervalMs ?? 30_000);
      const trials = setInterval(() => {
        for (const entry of opts.entries) {
          trial(entry).catch((err) => log.warn({ err }, 'breaker trial failed'));
        }
      }, opts.trialIntervalMs ?? 500);
      for (const t of [probing, trials]) {
        t.unref();
        timers.push(t);
      }
    },
    stop() {
      for (const t of timers.splice(0)) clearInterval(t);
      controller.abort();
    },
    async probeAll() {
      await Promise.all(
        opts.entries.map(async (entry) => {
          const health = await entry.engine.probe(probeSignal(entry));
          monitor.report(entry.engine.name, health.healthy, health.error, health.code);
        }),
      );
      return monitor.snapshot();
    },
    snapshot: () => opts.entries.map(row),
    report(engine, healthy, error, code) {
      const before = last.get(engine);
      last.set(engine, { healthy, checkedAt: Date.now(), error, ...(code ? { code } : {}) });
      if (before?.healthy !== healthy || before?.error !== error) {
        // A misconfigured engine is the user's to fix: said loudly, once per change.
        if (code === 'ENGINE_MISCONFIGURED') log.error({ engine, err: error }, 'engine misconfigured');
        else log.info({ engine, healthy, err: error }, 'engine health');
        monitor.onChange?.();
      }
    },
  };
  dispatcher.onOutcome((o) => monitor.report(o.engine, o.ok, o.error?.message, o.error?.code));
  for (const entry of opts.entries)
    dispatcher.breaker(entry.engine.name).onChange(() => monitor.onChange?.());
  return monitor;
}
