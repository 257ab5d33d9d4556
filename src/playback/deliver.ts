/**
 * Delivering one request's audio to one target (index.ts runs one per target at once): the delivery ledger
 * (a target that already played a redelivered request is not played again), the target's queue and sink, the
 * request's deadline while it waits for its turn, and the outcome reported for that target alone.
 */
import type { SayAudio } from '../say/audio.js';
import type { SayRequest } from '../say/request.js';
import type { Delivery, DeliveryLedger, PlayEnd, TargetOutcome } from '../say/service.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { TargetQueue } from './queue.js';
import type { PlayContext, Sink, SinkDeps } from './sink.js';
import { SINK_FACTORIES } from './sinks/index.js';
import { adHocSpec, type TargetSpec } from './targets.js';

/** What every delivery of the playback service shares. */
export interface PlaybackState {
  log: Log;
  /** Configured targets by name. */
  configured: Map<string, TargetSpec>;
  deps: SinkDeps;
  /** One queue per physical target (`TargetSpec.key`). */
  queues: Map<string, TargetQueue>;
  /**
   * One sink per target key and name: a named target and an ad-hoc address for the same speaker share the
   * queue but keep their own settings.
   */
  sinks: Map<string, Sink>;
}

/** The queue and sink of `spec`, made on first use. */
function laneFor(st: PlaybackState, spec: TargetSpec): { sink: Sink; queue: TargetQueue } {
  let queue = st.queues.get(spec.key);
  if (!queue) {
    queue = new TargetQueue(spec.name);
    st.queues.set(spec.key, queue);
  }
  const sinkKey = `${spec.key}\u0000${spec.name}`;
  let sink = st.sinks.get(sinkKey);
  if (!sink) {
    sink = SINK_FACTORIES[spec.type](spec, st.deps);
    st.sinks.set(sinkKey, sink);
  }
  return { sink, queue };
}

/**
 * A request's deadline while it waits for its turn on a target: `signal` also aborts with DEADLINE_EXCEEDED
 * when the deadline (`performance.now()` ms) passes first, and `started()` (its turn came) ends the watch, so
 * speech that began in time is never cut; it throws DEADLINE_EXCEEDED for a turn that came after the deadline
 * (no late speech). `stop()` ends the watch in any case.
 */
function lateGuard(
  target: string,
  deadlineAt: number | undefined,
  signal: AbortSignal,
): { signal: AbortSignal; started(): void; stop(): void } {
  if (deadlineAt === undefined || !Number.isFinite(deadlineAt)) {
    return { signal, started: () => {}, stop: () => {} };
  }
  const controller = new AbortController();
  const late = (): AppError =>
    new AppError(
      'DEADLINE_EXCEEDED',
      `target '${target}' was still busy when the request's deadline passed; not played late`,
    );
  const timer = setTimeout(() => controller.abort(late()), Math.max(0, deadlineAt - performance.now()));
  timer.unref();
  return {
    signal: AbortSignal.any([signal, controller.signal]),
    started() {
      clearTimeout(timer);
      if (performance.now() > deadlineAt) throw late();
    },
    stop: () => clearTimeout(timer),
  };
}

/**
 * The ledger side of one target's delivery: `accepted` records that the target took the audio, `claim` commits
 * the target before a sink that cannot be asked twice (its failure before the delivery takes the claim back
 * through `claimedOnly`).
 */
function ledgerMarks(name: string, ledger: DeliveryLedger | undefined) {
  const marks = { taken: false, claimedOnly: false };
  return {
    marks,
    accepted(): void {
      marks.claimedOnly = false;
      if (marks.taken) return;
      marks.taken = true;
      ledger?.record(name);
    },
    async claim(): Promise<void> {
      if (marks.taken || !ledger) return;
      marks.taken = true;
      marks.claimedOnly = true;
      await ledger.commit(name);
    },
  };
}

/** The sink's view of a request. */
function playContext(request: SayRequest, accepted: () => void, claim: () => Promise<void>): PlayContext {
  return {
    id: request.id,
    text: request.text,
    format: request.format,
    formatGiven: request.formatGiven ?? false,
    volume: request.volume,
    announce: request.announce,
    mediaContentType: request.mediaContentType,
    waitAll: request.waitAll ?? false,
    accepted,
    claim,
  };
}

/** Waits for the target's turn (within the request's deadline) and plays `audio` on its sink. */
async function playInTurn(
  st: PlaybackState,
  request: SayRequest,
  spec: TargetSpec,
  audio: SayAudio,
  ctx: PlayContext,
  signal: AbortSignal,
): Promise<PlayEnd | undefined> {
  const { sink, queue } = laneFor(st, spec);
  let end: PlayEnd | undefined;
  const late = lateGuard(spec.name, request.deadlineAt, signal);
  try {
    await queue.run(request.priority, late.signal, async (s) => {
      late.started();
      end = (await sink.play(audio, ctx, s)) ?? 'estimated';
    });
  } finally {
    late.stop();
  }
  return end;
}

/**
 * Plays one delivery on its target and reports the outcome; never rejects (a failure is the outcome's
 * `error`, `CODE: message`, logged once at warn).
 */
export async function deliverOne(
  st: PlaybackState,
  request: SayRequest,
  delivery: Delivery,
  t0: number,
  signal: AbortSignal,
  ledger: DeliveryLedger | undefined,
): Promise<TargetOutcome> {
  const { name, group } = delivery.target;
  const spec = st.configured.get(name) ?? adHocSpec(name);
  const base: TargetOutcome = group === undefined ? { name, ok: false } : { name, group, ok: false };
  const mark = ledgerMarks(name, ledger);
  try {
    if (!spec) throw new AppError('TARGET_NOT_FOUND', `target '${name}' is not configured`);
    if (ledger) {
      await ledger.ready;
      if (ledger.delivered(name)) {
        st.log.info({ id: request.id, target: name }, 'target already played this request; not again');
        return { ...base, ok: true };
      }
    }
    const audio = await delivery.audio;
    if (delivery.variant) base.url = audio.url;
    const ctx = playContext(request, mark.accepted, mark.claim);
    const end = await playInTurn(st, request, spec, audio, ctx, signal);
    mark.accepted();
    const ms = Math.round(performance.now() - t0);
    st.log.info({ id: request.id, target: name, group, type: spec.type, ms, end }, 'played');
    const outcome: TargetOutcome = { ...base, ok: true };
    if (request.waitAll) Object.assign(outcome, { end, endedMs: ms });
    return outcome;
  } catch (err) {
    if (mark.marks.claimedOnly) ledger?.forget(name);
    const e = toAppError(err, 'SINK_FAILED');
    st.log.warn({ id: request.id, target: name, group, code: e.code, err: e.message }, 'target failed');
    return { ...base, error: `${e.code}: ${e.message}` };
  }
}
