/**
 * The end of a say: delivery to its targets starts with the audio's URL; the result, the counters and the log
 * line come when the synthesis has settled (and every target has answered).
 */
import { performance } from 'node:perf_hooks';
import { toAppError, type Warning } from '../shared/errors.js';
import { type DeadlineContext, type SayContext, stageOf } from './context.js';
import type { Settled } from './production.js';
import type { SayRequest } from './request.js';
import type { Delivery, SayOptions, SayResult, TargetOutcome } from './types.js';

/** What `finish` needs of one started say. */
export interface Started {
  request: SayRequest;
  /** performance.now() when the say started. */
  t0: number;
  deliveries: Delivery[];
  signal: AbortSignal | undefined;
  options: SayOptions;
  settle(): Promise<Settled>;
  dl: DeadlineContext;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/** The warning of a result whose audio the disk refused and memory holds. */
function degradedWarning(reason: string | null): Warning {
  return {
    code: 'CACHE_DEGRADED',
    message: `the share volume refused the cache write (${reason ?? 'disk full or read-only'}); the audio is held in memory only and is lost at restart; free space on the share volume`,
  };
}

/** The result of a settled say, before its targets and total latency. */
function resultOf(ctx: SayContext, s: Started, settled: Settled): SayResult {
  const { request } = s;
  const result: SayResult = {
    id: request.id,
    textChars: request.text.length,
    engine: settled.engine,
    voice: settled.voice,
    cached: settled.cached,
    key: settled.entry.key,
    url: ctx.deps.audioUrl(settled.entry.key, request.format),
    format: request.format,
    durationMs: settled.entry.durationMs,
    bytes: settled.entry.bytes,
    latencyMs: { total: 0, firstAudio: round1(Math.max(0, settled.firstAudioAt - s.t0)) },
    fallbackFrom: settled.fallbackFrom,
  };
  if (settled.instance) result.instance = settled.instance;
  if (settled.entry.data) result.warnings = [degradedWarning(ctx.deps.cache.health().degraded_reason)];
  return result;
}

/** Adds the targets' outcomes to `result`, counting the targets the deadline dropped. */
function addTargets(ctx: SayContext, result: SayResult, targets: TargetOutcome[]): void {
  result.targets = targets;
  result.delivered = targets.every((t) => t.ok);
  for (const t of targets) if (t.error?.startsWith('DEADLINE_EXCEEDED')) ctx.counters.deadlineDrops.target++;
}

/** Counts and logs a successful say. */
function recordSaid(ctx: SayContext, result: SayResult): void {
  ctx.counters.ok++;
  ctx.counters.lastLatencyMs = result.latencyMs.total;
  ctx.deps.log.info(
    {
      id: result.id,
      engine: result.engine,
      cached: result.cached,
      chars: result.textChars,
      ms: result.latencyMs.total,
    },
    'said',
  );
}

/**
 * Delivers `s` to its targets while its synthesis settles, and resolves with its result.
 * @throws the synthesis error (delivery is aborted with it); counted, deadline drops by stage.
 */
export async function finish(ctx: SayContext, s: Started): Promise<SayResult> {
  const controller = new AbortController();
  const combined = s.signal ? AbortSignal.any([s.signal, controller.signal]) : controller.signal;
  const delivering =
    s.deliveries.length && ctx.deps.deliver
      ? ctx.deps.deliver(s.request, s.deliveries, combined, s.options.ledger)
      : undefined;
  delivering?.catch(() => {});
  try {
    const result = resultOf(ctx, s, await s.settle());
    if (delivering) addTargets(ctx, result, await delivering);
    result.latencyMs.total = round1(performance.now() - s.t0);
    recordSaid(ctx, result);
    return result;
  } catch (err) {
    controller.abort(err);
    ctx.counters.errors++;
    const e = toAppError(err);
    if (e.code === 'DEADLINE_EXCEEDED') ctx.counters.deadlineDrops[stageOf(s.dl)]++;
    throw e;
  }
}
