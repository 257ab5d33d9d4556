import { performance } from 'node:perf_hooks';
import { encodeStream } from '../audio/encoder.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../audio/format.js';
import type { Deriver } from '../cache/derive.js';
import { cacheKey } from '../cache/key.js';
import type { CacheStore } from '../cache/store.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Dispatcher, EngineEntry } from './dispatcher.js';
import type { SayRequest } from './say-request.js';

/** A target's outcome in a result. */
export interface TargetOutcome {
  name: string;
  ok: boolean;
  error?: string;
}

/** The finished audio a say produced, as handed to targets. */
export interface SayAudio {
  key: string;
  format: OutputFormat;
  url: string;
  path: string;
  durationMs: number;
  bytes: number;
  /**
   * The same speech in another format (for a target that wants mp3 or wav): derived from this file once with
   * ffmpeg and cached; resolves to this object for its own format.
   * @throws AppError FFMPEG_FAILED, CACHE_IO, DISK_FULL.
   */
  as(format: OutputFormat, signal: AbortSignal): Promise<SayAudio>;
}

/** A successful say, in the domain's terms; `resultPayload` turns it into the tts/result JSON. */
export interface SayResult {
  id: string;
  textChars: number;
  engine: string;
  voice: string | undefined;
  cached: boolean;
  key: string;
  url: string;
  format: OutputFormat;
  durationMs: number;
  bytes: number;
  latencyMs: { total: number; firstAudio: number };
  fallbackFrom: string[];
  targets?: TargetOutcome[];
}

/** Counters since start: requests answered ok or with an error, cache hits and misses, engine runs per engine. */
export interface SayStats {
  ok: number;
  errors: number;
  cacheHits: number;
  cacheMisses: number;
  /** Syntheses started per engine name (every attempt, including failed ones). */
  engineRuns: Record<string, number>;
  /** Total latency of the last successful say, in ms. */
  lastLatencyMs: number;
}

/** Delivers finished audio to a request's targets (the playback domain). */
export type DeliverFn = (
  request: SayRequest,
  audio: SayAudio,
  signal: AbortSignal,
) => Promise<TargetOutcome[]>;

/** The one domain service every input calls (DESIGN "Architecture rules"). */
export interface SayService {
  /**
   * Validates names, looks up the cache, dispatches with fallback, encodes, caches, delivers to targets.
   * @throws AppError ENGINE_NOT_FOUND, VOICE_NOT_FOUND, TARGET_NOT_FOUND, SHUTTING_DOWN, engine errors when
   *   every engine failed, FFMPEG_FAILED, CACHE_IO / DISK_FULL.
   */
  say(request: SayRequest, signal?: AbortSignal): Promise<SayResult>;
  /** Syntheses in flight now. */
  inFlight(): number;
  /** Counters since start. */
  stats(): SayStats;
  /** Stops taking work; waits up to `graceMs` for in-flight says, then aborts them. */
  stop(graceMs?: number): Promise<void>;
}

/** Collaborators of the say service. */
export interface SayServiceDeps {
  dispatcher: Dispatcher;
  cache: CacheStore;
  /** Derives other formats of cached entries. */
  deriver: Deriver;
  /** False when `cache.enabled` is off: nothing is answered from the cache (files are still written to serve). */
  cacheLookups: boolean;
  bitrateKbps: number;
  /** Public URL of a cached audio file. */
  audioUrl(key: string, format: OutputFormat): string;
  /** Checks target names; throws TARGET_NOT_FOUND. Absent: any target is refused. */
  checkTargets?(names: string[]): void;
  deliver?: DeliverFn;
  log: Log;
}

interface Produced {
  key: string;
  /** The cache key of the same speech in another format. */
  keyFor(format: OutputFormat): string;
  voice: string | undefined;
  cached: boolean;
  path: string;
  bytes: number;
  durationMs: number;
  firstAudioMs: number;
}

async function checkVoice(entry: EngineEntry, voice: string, signal: AbortSignal): Promise<void> {
  let voices: Array<{ name: string }>;
  try {
    voices = await entry.engine.voices(signal);
  } catch {
    return; // The engine is unreachable: the fallback chain decides, not the voice list.
  }
  if (voices.length === 0 || voices.some((v) => v.name === voice)) return;
  const known = voices.slice(0, 20).map((v) => v.name);
  throw new AppError(
    'VOICE_NOT_FOUND',
    `voice '${voice}' not found on engine '${entry.engine.name}'; known voices: ${known.join(', ')}${voices.length > 20 ? ', …' : ''}`,
  );
}

/** Builds the say service. */
export function createSayService(deps: SayServiceDeps): SayService {
  const { dispatcher, cache, log } = deps;
  const running = new Set<AbortController>();
  const counters: SayStats = {
    ok: 0,
    errors: 0,
    cacheHits: 0,
    cacheMisses: 0,
    engineRuns: {},
    lastLatencyMs: 0,
  };
  let closing = false;

  async function produce(
    request: SayRequest,
    entry: EngineEntry,
    signal: AbortSignal,
    isFallback: boolean,
    t0: number,
  ): Promise<Produced> {
    const voice = isFallback ? entry.voice : (request.voice ?? entry.voice);
    const speaker = isFallback ? entry.speaker : (request.speaker ?? entry.speaker);
    const language = request.language ?? entry.language;
    const keyFor = (format: OutputFormat): string =>
      cacheKey({
        engine: entry.engine.name,
        voice: voice ?? '',
        speaker,
        language,
        engineOptions: entry.gainDb ? { gain_db: entry.gainDb } : undefined,
        format,
        text: request.text,
      });
    const key = keyFor(request.format);
    const lookups = request.cache && deps.cacheLookups;
    const hit = lookups ? cache.get(key, request.format) : undefined;
    if (hit) {
      counters.cacheHits++;
      const ms = performance.now() - t0;
      return {
        key,
        keyFor,
        voice,
        cached: true,
        path: hit.path,
        bytes: hit.bytes,
        durationMs: hit.durationMs,
        firstAudioMs: ms,
      };
    }
    // Another format of the same speech is cached: derive this one from it (ffmpeg, no engine) and cache it too.
    for (const other of lookups ? OUTPUT_FORMATS.filter((f) => f !== request.format) : []) {
      const source = cache.get(keyFor(other), other);
      if (!source) continue;
      counters.cacheHits++;
      const derived = await deps.deriver.derive(source, key, request.format, signal);
      const ms = performance.now() - t0;
      return {
        key,
        keyFor,
        voice,
        cached: true,
        path: derived.path,
        bytes: derived.bytes,
        durationMs: derived.durationMs,
        firstAudioMs: ms,
      };
    }
    counters.cacheMisses++;
    counters.engineRuns[entry.engine.name] = (counters.engineRuns[entry.engine.name] ?? 0) + 1;
    const chunks = entry.engine.synthesize({ text: request.text, voice, speaker, language }, signal);
    const writer = cache.beginWrite(key, request.format);
    let firstAudioMs = 0;
    try {
      const encoded = encodeStream(chunks, {
        format: request.format,
        bitrateKbps: deps.bitrateKbps,
        gainDb: entry.gainDb,
        signal,
      });
      for await (const bytes of encoded) {
        if (!firstAudioMs) firstAudioMs = performance.now() - t0;
        await writer.write(bytes);
      }
      const durationMs = Math.round(encoded.inputDurationMs);
      const entryOnDisk = await writer.commit({
        text: request.text,
        engine: entry.engine.name,
        voice: voice ?? '',
        durationMs,
      });
      if (!entryOnDisk) {
        throw new AppError(
          'CACHE_IO',
          `the audio (${durationMs} ms) is larger than the whole cache; raise cache.max_mb`,
        );
      }
      return {
        key,
        keyFor,
        voice,
        cached: false,
        path: entryOnDisk.path,
        bytes: entryOnDisk.bytes,
        durationMs,
        firstAudioMs,
      };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** The SayAudio of a produced file, able to derive its other formats. */
  function sayAudio(
    p: { key: string; keyFor(f: OutputFormat): string; path: string; bytes: number; durationMs: number },
    format: OutputFormat,
  ): SayAudio {
    const entry = cache.get(p.key, format);
    return {
      key: p.key,
      format,
      url: deps.audioUrl(p.key, format),
      path: p.path,
      durationMs: p.durationMs,
      bytes: p.bytes,
      async as(other, signal) {
        if (other === format) return this;
        if (!entry)
          throw new AppError('CACHE_IO', `audio ${p.key}.${format} left the cache before it was converted`);
        const key = p.keyFor(other);
        const derived = await deps.deriver.derive(entry, key, other, signal);
        return sayAudio({ ...p, key, path: derived.path, bytes: derived.bytes }, other);
      },
    };
  }

  return {
    async say(request, signal) {
      if (closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
      const t0 = performance.now();
      const controller = new AbortController();
      const combined = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
      running.add(controller);
      try {
        const chain = dispatcher.chain(request.engine);
        if (request.targets.length) {
          if (!deps.checkTargets) throw new AppError('TARGET_NOT_FOUND', 'no targets are configured');
          deps.checkTargets(request.targets);
        }
        if (request.voice) await checkVoice(chain[0] as EngineEntry, request.voice, combined);
        const outcome = await dispatcher.run(request.engine, combined, (entry, sig, isFallback) =>
          produce(request, entry, sig, isFallback, t0),
        );
        const p = outcome.value;
        const result: SayResult = {
          id: request.id,
          textChars: request.text.length,
          engine: outcome.engine.engine.name,
          voice: p.voice,
          cached: p.cached,
          key: p.key,
          url: deps.audioUrl(p.key, request.format),
          format: request.format,
          durationMs: p.durationMs,
          bytes: p.bytes,
          latencyMs: { total: 0, firstAudio: Math.round(p.firstAudioMs * 10) / 10 },
          fallbackFrom: outcome.fallbackFrom,
        };
        if (request.targets.length && deps.deliver) {
          const audio = sayAudio(p, request.format);
          result.targets = await deps.deliver(request, audio, combined);
        }
        result.latencyMs.total = Math.round((performance.now() - t0) * 10) / 10;
        counters.ok++;
        counters.lastLatencyMs = result.latencyMs.total;
        log.info(
          {
            id: request.id,
            engine: result.engine,
            cached: result.cached,
            chars: result.textChars,
            ms: result.latencyMs.total,
          },
          'said',
        );
        return result;
      } catch (err) {
        counters.errors++;
        if (controller.signal.aborted && closing) {
          throw new AppError('SHUTTING_DOWN', 'the hub shut down before this request finished', {
            cause: err,
          });
        }
        throw toAppError(err);
      } finally {
        running.delete(controller);
      }
    },
    inFlight: () => running.size,
    stats: () => structuredClone(counters),
    async stop(graceMs = 8000) {
      closing = true;
      const deadline = Date.now() + graceMs;
      while (running.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const c of running) c.abort(new AppError('SHUTTING_DOWN', 'shutting down'));
      while (running.size) await new Promise((r) => setTimeout(r, 20));
    },
  };
}
