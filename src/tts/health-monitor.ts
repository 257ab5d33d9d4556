import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Dispatcher, EngineEntry } from './dispatcher.js';
import type { EngineHealth } from './engine.js';
import type { BreakerState } from './engine-breaker.js';
import type { EngineInstance } from './engine-pool.js';
import type { EngineSpeedRow } from './engine-speed.js';

/** One instance's row inside an engine's row (snake_case: it goes out as JSON as it is). */
export interface InstanceStatus {
  /** Its address without credentials, or `local` for a CLI engine. */
  endpoint: string;
  /** Last probe or request succeeded and its breaker is closed. */
  healthy: boolean;
  breaker: BreakerState;
  /** ISO time of the last probe or request outcome; null before the first. */
  checked_at: string | null;
  error?: string;
  /** Requests synthesizing on it now. */
  active: number;
  /** Requests it was given since start. */
  served: number;
  /** Its relative share (`weights`). */
  weight: number;
  /** The error's code (ENGINE_MISCONFIGURED: it cannot run as configured). */
  code?: string;
}

/** One engine's row in GET /api/engines and tts/status (snake_case: it goes out as JSON as it is). */
export interface EngineStatus {
  name: string;
  type: string;
  /** `wyoming`, `http`, `cli`, `xtts_api`, `xtts_stream`, `coqui`, `openai`; null when unknown. */
  transport: string | null;
  /** At least one instance is healthy (last probe or request succeeded, breaker closed). */
  healthy: boolean;
  /** The best of its instances' breakers: `closed` while any instance takes requests. */
  breaker: BreakerState;
  /** ISO time of the latest probe or request outcome of any instance; null before the first. */
  checked_at: string | null;
  /** Why it is unhealthy (the first instance's error) when no instance is healthy. */
  error?: string;
  /** The error's code; ENGINE_MISCONFIGURED: the engine cannot run as configured (a missing command or model). */
  code?: string;
  /** Simultaneous syntheses per instance. */
  max_parallel: number;
  /** Requests synthesizing on the engine now, over its instances. */
  active: number;
  /** Requests waiting in its queue for a slot on any instance. */
  queued: number;
  /** The configured default voice; null: the engine's own default. */
  voice: string | null;
  /** `least_outstanding` or `round_robin`. */
  balance: string;
  instances: InstanceStatus[];
  /** Recent synthesis latency and real-time factor; null before the first synthesis. */
  speed: EngineSpeedRow | null;
}

/**
 * Probes every instance of every engine at start and every `intervalMs`; keeps the last answer of each,
 * updated between probes by the dispatcher's outcomes (real traffic). While an instance's breaker is open, it
 * runs the half-open trial itself once the reset time has passed (a probe through the breaker), so an instance
 * that answers again is back in service without waiting for traffic.
 */
export interface HealthMonitor {
  start(): Promise<void>;
  stop(): void;
  /** Probes all instances now and returns the engines' rows. */
  probeAll(): Promise<EngineStatus[]>;
  /** The last known rows, in configured order. */
  snapshot(): EngineStatus[];
  /** Records the outcome of real traffic (or a probe) on an instance, so health follows failures between probes. */
  report(engine: string, instance: number, healthy: boolean, error?: string, code?: string): void;
  /** Called after each change of any instance's health or breaker state. */
  onChange?: () => void;
}

/** Options of {@link createHealthMonitor}. */
export interface HealthMonitorOptions {
  entries: readonly EngineEntry[];
  /** Source of outcomes, loads, pools and speed. */
  dispatcher: Dispatcher;
  /** Time between probes of every instance, default 30 000 ms. */
  intervalMs?: number;
  /** Time between checks for breakers due a half-open trial, default 500 ms. */
  trialIntervalMs?: number;
  log: Log;
}

const BREAKER_RANK: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** The monitor's state: the last outcome per instance (keyed `engine#index`), its timers, and the probes' abort. */
interface MonitorState {
  readonly opts: HealthMonitorOptions;
  readonly last: Map<string, EngineHealth>;
  readonly timers: NodeJS.Timeout[];
  readonly controller: AbortController;
}

const key = (engine: string, index: number): string => `${engine}#${index}`;
const instancesOf = (st: MonitorState, entry: EngineEntry): readonly EngineInstance[] =>
  st.opts.dispatcher.pool(entry.engine.name).instances;

/** One instance's row from its last outcome and its breaker. */
function instanceRow(st: MonitorState, engine: string, i: EngineInstance): InstanceStatus {
  const h = st.last.get(key(engine, i.index));
  const state = i.breaker.state();
  const row: InstanceStatus = {
    endpoint: i.endpoint,
    healthy: (h?.healthy ?? false) && state === 'closed',
    breaker: state,
    checked_at: h?.checkedAt ? new Date(h.checkedAt).toISOString() : null,
    active: i.active,
    served: i.served,
    weight: i.weight,
  };
  const error = h?.error ?? (state === 'closed' ? undefined : i.breaker.lastError);
  if (error) row.error = error;
  if (h?.error && h.code) row.code = h.code;
  return row;
}

/** One engine's row: its instances' rows, the best breaker, the latest check, its load and speed. */
function engineRow(st: MonitorState, entry: EngineEntry): EngineStatus {
  const { dispatcher } = st.opts;
  const { name } = entry.engine;
  const instances = instancesOf(st, entry).map((i) => instanceRow(st, name, i));
  const checked = instances.map((i) => i.checked_at).filter((t): t is string => t !== null);
  const best = instances.reduce<BreakerState>(
    (b, i) => (BREAKER_RANK[i.breaker] < BREAKER_RANK[b] ? i.breaker : b),
    'open',
  );
  const healthy = instances.some((i) => i.healthy);
  const status: EngineStatus = {
    name,
    type: entry.engine.type,
    transport: entry.transport ?? null,
    healthy,
    breaker: best,
    checked_at: checked.length ? (checked.sort().at(-1) as string) : null,
    max_parallel: entry.maxParallel,
    ...dispatcher.load(name),
    voice: entry.voice ?? null,
    balance: entry.balance ?? 'least_outstanding',
    instances,
    speed: dispatcher.speed.snapshot(name),
  };
  const failing = healthy ? undefined : instances.find((i) => i.error);
  if (failing?.error) status.error = failing.error;
  if (failing?.code) status.code = failing.code;
  return status;
}

/** A probe's signal: aborts on `stop()` or after the engine's timeout, at most 5000 ms. */
const probeSignal = (st: MonitorState, entry: EngineEntry): AbortSignal =>
  AbortSignal.any([st.controller.signal, AbortSignal.timeout(Math.min(5000, entry.timeoutMs))]);

/** The half-open trial: a probe through the breaker; an unhealthy answer counts as an engine fault. */
async function trial(
  st: MonitorState,
  monitor: HealthMonitor,
  entry: EngineEntry,
  instance: EngineInstance,
): Promise<void> {
  const { breaker } = instance;
  if (breaker.state() !== 'open' || !breaker.admits() || instance.active > 0) return;
  const name = entry.engine.name;
  try {
    await breaker.execute(async () => {
      const health = await instance.engine.probe(probeSignal(st, entry));
      if (!health.healthy) {
        throw new AppError('ENGINE_UNAVAILABLE', health.error ?? `engine '${name}' is unhealthy`);
      }
    });
    monitor.report(name, instance.index, true);
  } catch (err) {
    monitor.report(name, instance.index, false, (err as Error).message);
  }
}

/** Starts the periodic probes and the checks for breakers due a half-open trial (timers unref'd). */
function startTimers(st: MonitorState, monitor: HealthMonitor): void {
  const { opts } = st;
  const probing = setInterval(() => {
    monitor.probeAll().catch((err) => opts.log.warn({ err }, 'engine probe failed'));
  }, opts.intervalMs ?? 30_000);
  const trials = setInterval(() => {
    for (const entry of opts.entries) {
      for (const instance of instancesOf(st, entry)) {
        trial(st, monitor, entry, instance).catch((err) => opts.log.warn({ err }, 'breaker trial failed'));
      }
    }
  }, opts.trialIntervalMs ?? 500);
  for (const t of [probing, trials]) {
    t.unref();
    st.timers.push(t);
  }
}

/** Probes every instance of every engine at once and records each answer. */
async function probeEvery(st: MonitorState, monitor: HealthMonitor): Promise<void> {
  await Promise.all(
    st.opts.entries.flatMap((entry) =>
      instancesOf(st, entry).map(async (instance) => {
        const health = await instance.engine.probe(probeSignal(st, entry));
        monitor.report(entry.engine.name, instance.index, health.healthy, health.error, health.code);
      }),
    ),
  );
}

/** Records an outcome; returns true when the instance's health or error changed (after logging the change). */
function record(
  st: MonitorState,
  engine: string,
  instance: number,
  outcome: Pick<EngineHealth, 'healthy' | 'error' | 'code'>,
): boolean {
  const { healthy, error, code } = outcome;
  const before = st.last.get(key(engine, instance));
  st.last.set(key(engine, instance), { healthy, checkedAt: Date.now(), error, ...(code ? { code } : {}) });
  if (before?.healthy === healthy && before?.error === error) return false;
  const endpoint = st.opts.dispatcher.pool(engine).instances[instance]?.endpoint;
  // A misconfigured engine is the user's to fix: said loudly, once per change.
  if (code === 'ENGINE_MISCONFIGURED')
    st.opts.log.error({ engine, instance: endpoint, err: error }, 'engine misconfigured');
  else st.opts.log.info({ engine, instance: endpoint, healthy, err: error }, 'engine health');
  return true;
}

/** Builds the monitor and subscribes it to the dispatcher's outcomes and breaker changes. */
export function createHealthMonitor(opts: HealthMonitorOptions): HealthMonitor {
  const st: MonitorState = { opts, last: new Map(), timers: [], controller: new AbortController() };
  const monitor: HealthMonitor = {
    async start() {
      await monitor.probeAll();
      startTimers(st, monitor);
    },
    stop() {
      for (const t of st.timers.splice(0)) clearInterval(t);
      st.controller.abort();
    },
    async probeAll() {
      await probeEvery(st, monitor);
      return monitor.snapshot();
    },
    snapshot: () => opts.entries.map((entry) => engineRow(st, entry)),
    report(engine, instance, healthy, error, code) {
      if (record(st, engine, instance, { healthy, error, code })) monitor.onChange?.();
    },
  };
  opts.dispatcher.onOutcome((o) =>
    monitor.report(o.engine, o.instance, o.ok, o.error?.message, o.error?.code),
  );
  for (const entry of opts.entries) {
    for (const instance of instancesOf(st, entry)) instance.breaker.onChange(() => monitor.onChange?.());
  }
  return monitor;
}
