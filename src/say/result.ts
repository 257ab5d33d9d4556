import { type ErrorBody, errorBody, type Warning } from '../shared/errors.js';
import type { SayResult, TargetOutcome } from './service.js';

/** The `tts/result` JSON of a successful say (DESIGN "MQTT"), snake_case. */
export interface ResultPayload {
  id: string;
  ok: true;
  text_chars: number;
  engine: string;
  voice: string | null;
  cached: boolean;
  url: string;
  format: string;
  duration_ms: number;
  bytes: number;
  latency_ms: { total: number; first_audio: number };
  fallback_from?: string[];
  /** The instance that spoke, when the engine has several. */
  instance?: string;
  targets?: TargetPayload[];
  /** Present when the request had targets: true when every target got the audio. */
  delivered?: boolean;
  /** Present when the say was served with something to fix, e.g. CACHE_DEGRADED. */
  warnings?: Warning[];
}

/**
 * One target in a result: `group` when named through a group, `url` when its preset gave it its own audio,
 * `end` (`reported`|`estimated`) and `ended_ms` with `wait: "all"`.
 */
export interface TargetPayload {
  name: string;
  group?: string;
  ok: boolean;
  error?: string;
  url?: string;
  end?: string;
  ended_ms?: number;
}

function targetPayload(t: TargetOutcome): TargetPayload {
  const out: TargetPayload =
    t.group === undefined ? { name: t.name, ok: t.ok } : { name: t.name, group: t.group, ok: t.ok };
  if (t.error !== undefined) out.error = t.error;
  if (t.url !== undefined) out.url = t.url;
  if (t.end !== undefined) out.end = t.end;
  if (t.endedMs !== undefined) out.ended_ms = t.endedMs;
  return out;
}

/** The `tts/result` JSON of a failed say: `{id, ok:false, error:{code, message}}`. */
export interface ErrorPayload {
  id: string;
  ok: false;
  error: ErrorBody;
}

/** Converts a SayResult to its wire JSON. `fallback_from` appears only when a fallback happened. */
export function resultPayload(r: SayResult): ResultPayload {
  const payload: ResultPayload = {
    id: r.id,
    ok: true,
    text_chars: r.textChars,
    engine: r.engine,
    voice: r.voice ?? null,
    cached: r.cached,
    url: r.url,
    format: r.format,
    duration_ms: r.durationMs,
    bytes: r.bytes,
    latency_ms: { total: r.latencyMs.total, first_audio: r.latencyMs.firstAudio },
  };
  if (r.fallbackFrom.length) payload.fallback_from = r.fallbackFrom;
  if (r.instance) payload.instance = r.instance;
  if (r.targets) {
    payload.targets = r.targets.map(targetPayload);
    payload.delivered = r.delivered ?? r.targets.every((t) => t.ok);
  }
  if (r.warnings?.length) payload.warnings = r.warnings;
  return payload;
}

/** Converts an error to the failed-result JSON. */
export function errorPayload(id: string, err: unknown): ErrorPayload {
  return { id, ok: false, error: errorBody(err) };
}
