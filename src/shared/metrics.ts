/**
 * Prometheus metrics of the hub (prom-client, its own registry so tests and several hubs in one process do
 * not collide). Counters the say service already keeps (`stats()`), the queue depth and engine health are read
 * when scraped (collect callbacks); per-request facts (error codes, latencies) come from `say` events.
 * Names follow Prometheus conventions: `tts_hub_` prefix, base units (seconds, bytes), `_total` counters.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SayStats } from '../tts/say-service.js';
import type { SayEvent } from './events.js';

/** What the metrics read when scraped. */
export interface MetricsSources {
  /** The say service's counters since start. */
  sayStats(): SayStats;
  /** Requests waiting for an engine slot. */
  queueDepth(): number;
  /** Each engine's last known health, in configured order. */
  engineHealth(): ReadonlyArray<{ name: string; healthy: boolean }>;
}

/** The hub's metrics. */
export interface HubMetrics {
  readonly registry: Registry;
  /** Records one finished say (error code, latencies). */
  observeSay(event: SayEvent): void;
  /** Sets the bytes of all recordings on disk (from the recorder's totals). */
  setRecordedBytes(bytes: number): void;
  /** The exposition text, and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** Latency buckets in seconds: a cache hit takes milliseconds, a long synthesis tens of seconds. */
const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

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
    help: '1 when the engine answered its last probe or request, else 0',
    labelNames: ['engine'],
    registers,
    collect() {
      for (const e of sources.engineHealth()) this.set({ engine: e.name }, e.healthy ? 1 : 0);
    },
  });
}

/** Creates the metrics over `sources`. */
export function createMetrics(sources: MetricsSources): HubMetrics {
  const registry = new Registry();
  const registers = [registry];
  registerCollected(registry, sources);
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
    setRecordedBytes: (bytes) => recorded.set(bytes),
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
