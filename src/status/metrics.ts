/**
 * Prometheus metrics of the hub (prom-client, its own registry so tests and several hubs in one process do
 * not collide). Counters the say service already keeps (`stats()`), the queue depth and engine health are read
 * when scraped (collect callbacks); per-request facts (error codes, latencies) come from `say` events, and
 * per-synthesis facts (engine latency, RTF) from the dispatcher's speed book. prom-client's default process
 * metrics (memory, CPU, event-loop lag, handles) are included.
 * Names follow Prometheus conventions: `tts_hub_` prefix, base units (seconds, bytes), `_total` counters.
 * Engine instances carry the label `endpoint` (not `instance`, which Prometheus sets to the scrape target).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { SayEvent } from '../say/events.js';
import type { SayStats } from '../say/service.js';
import type { BreakerState } from '../tts/engine-breaker.js';
import type { SynthesisSample } from '../tts/engine-speed.js';

/** What the metrics read of each engine (a subset of GET /api/engines' rows). */
export interface EngineMetricsRow {
  name: string;
  healthy: boolean;
  queued: number;
  instances: ReadonlyArray<{ endpoint: string; healthy: boolean; breaker: BreakerState; active: number }>;
}

/** What the metrics read when scraped. */
export interface MetricsSources {
  /** The say service's counters since start. */
  sayStats(): SayStats;
  /** Requests waiting for an engine slot. */
  queueDepth(): number;
  /** Each engine's last known health, load and instances, in configured order. */
  engineHealth(): ReadonlyArray<EngineMetricsRow>;
}

/** The hub's metrics. */
export interface HubMetrics {
  readonly registry: Registry;
  /** Records one finished say (error code, latencies). */
  observeSay(event: SayEvent): void;
  /** Records one synthesis on an engine instance (latency and real-time factor histograms). */
  observeSynthesis(sample: SynthesisSample): void;
  /** Sets the bytes of all recordings on disk (from the recorder's totals). */
  setRecordedBytes(bytes: number): void;
  /** The exposition text, and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** Latency buckets in seconds: a cache hit takes milliseconds, a long synthesis tens of seconds. */
const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Real-time factor buckets: 0.01 (100× faster than real time) to 4 (4× slower). */
const RTF_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 4];
/** Breaker states as numbers (the usual convention: 0 closed, 1 half-open, 2 open). */
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** Sets a counter to an absolute value kept elsewhere (prom-client counters only go up by `inc`). */
function setCounter(counter: Counter<string>, value: number, labels?: Record<string, string>): void {
  if (labels) {
    counter.remove(labels);
    counter.inc(labels, value);
  } else {
    counter.reset();
    counter.inc(value);
  }
}

/** Metrics read from `sources` when scraped: requests, cache hits and misses, queue depth, engine health. */
function registerCollected(registry: Registry, sources: MetricsSources): void {
  const registers = [registry];
  new Counter({
    name: 'tts_hub_requests_total',
    help: 'Say requests answered, by result (ok or error), from every input',
    labelNames: ['result'],
    registers,
    collect() {
      const s = sources.sayStats();
      setCounter(this, s.ok, { result: 'ok' });
      setCounter(this, s.errors, { result: 'error' });
    },
  });
  new Counter({
    name: 'tts_hub_cache_hits_total',
    help: 'Say requests answered from the cache (including formats derived from a cached file)',
    registers,
    collect() {
      setCounter(this, sources.sayStats().cacheHits);
    },
  });
  new Counter({
    name: 'tts_hub_cache_misses_total',
    help: 'Say requests that needed an engine',
    registers,
    collect() {
      setCounter(this, sources.sayStats().cacheMisses);
    },
  });
  new Gauge({
    name: 'tts_hub_queue_depth',
    help: 'Requests waiting for an engine slot',
    registers,
    collect() {
      this.set(sources.queueDepth());
    },
  });
  new Gauge({
    name: 'tts_hub_engine_healthy',
    help: '1 when an instance of the engine answered its last probe or request, else 0',
    labelNames: ['engine'],
    registers,
    collect() {
      for (const e of sources.engineHealth()) this.set({ engine: e.name }, e.healthy ? 1 : 0);
    },
  });
  new Counter({
    name: 'tts_hub_deadline_exceeded_total',
    help: 'Requests dropped at their deadline: in the queue (no engine reached), at an engine, or a target not played late',
    labelNames: ['stage'],
    registers,
    collect() {
      const drops = sources.sayStats().deadlineDrops;
      for (const stage of ['queue', 'engine', 'target'] as const) setCounter(this, drops[stage], { stage });
    },
  });
  registerInstances(registry, sources);
}

/** Per engine and instance: queue, breaker state, health and requests running, read when scraped. */
function registerInstances(registry: Registry, sources: MetricsSources): void {
  const registers = [registry];
  new Gauge({
    name: 'tts_hub_engine_queued',
    help: "Requests waiting in the engine's queue (one queue for all its instances)",
    labelNames: ['engine'],
    registers,
    collect() {
      for (const e of sources.engineHealth()) this.set({ engine: e.name }, e.queued);
    },
  });
  const perInstance = (
    name: string,
    help: string,
    value: (i: EngineMetricsRow['instances'][number]) => number,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: ['engine', 'endpoint'],
      registers,
      collect() {
        this.reset();
        for (const e of sources.engineHealth()) {
          for (const i of e.instances) this.set({ engine: e.name, endpoint: i.endpoint }, value(i));
        }
      },
    });
  };
  perInstance(
    'tts_hub_engine_breaker_state',
    "State of the instance's circuit breaker: 0 closed, 1 half-open (trial running), 2 open (skipped)",
    (i) => BREAKER_VALUE[i.breaker],
  );
  perInstance('tts_hub_engine_active', 'Requests synthesizing on the instance now', (i) => i.active);
  perInstance(
    'tts_hub_engine_instance_healthy',
    '1 when the instance answered its last probe or request and its breaker is closed, else 0',
    (i) => (i.healthy ? 1 : 0),
  );
}

/** How often the event-loop delay is sampled for `nodejs_eventloop_lag_*`, in ms. */
const EVENT_LOOP_SAMPLE_MS = 1000;

/** Creates the metrics over `sources`. */
export function createMetrics(sources: MetricsSources): HubMetrics {
  const registry = new Registry();
  const registers = [registry];
  // prom-client samples event-loop delay every 10 ms by default: a timer that alone kept an idle hub at about
  // 6 ms of CPU a second (measured with /proc/<pid>/task). Once a second is plenty for a dashboard.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  registerCollected(registry, sources);
  const synthesis = new Histogram({
    name: 'tts_hub_engine_synthesis_seconds',
    help: 'Time an engine took for one request, from a free slot to the last audio, by engine',
    labelNames: ['engine'],
    buckets: LATENCY_BUCKETS_S,
    registers,
  });
  const rtf = new Histogram({
    name: 'tts_hub_engine_rtf',
    help: 'Real-time factor of one synthesis (synthesis time ÷ audio duration; below 1 is faster than real time), by engine',
    labelNames: ['engine'],
    buckets: RTF_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: 'tts_hub_errors_total',
    help: 'Failed say requests by error code',
    labelNames: ['code'],
    registers,
  });
  const latency = new Histogram({
    name: 'tts_hub_say_latency_seconds',
    help: 'Time from a say request to its result, by whether it came from the cache',
    labelNames: ['cached'],
    buckets: LATENCY_BUCKETS_S,
    registers,
  });
  const firstAudio = new Histogram({
    name: 'tts_hub_first_audio_seconds',
    help: 'Time from a say request to its first encoded audio',
    labelNames: ['cached'],
    buckets: LATENCY_BUCKETS_S,
    registers,
  });
  const recorded = new Gauge({
    name: 'tts_hub_recorded_bytes',
    help: 'Bytes of all recordings on the share volume, in progress included',
    registers,
  });

  return {
    registry,
    observeSay(event) {
      if (event.error) {
        errors.inc({ code: event.error.code });
        return;
      }
      const r = event.result;
      if (!r) return;
      const cached = String(r.cached);
      latency.observe({ cached }, r.latencyMs.total / 1000);
      firstAudio.observe({ cached }, r.latencyMs.firstAudio / 1000);
    },
    observeSynthesis(sample) {
      synthesis.observe({ engine: sample.engine }, sample.ms / 1000);
      if (sample.audioMs > 0) rtf.observe({ engine: sample.engine }, sample.ms / sample.audioMs);
    },
    setRecordedBytes: (bytes) => recorded.set(bytes),
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
