/**
 * The say service: the one domain service every input calls (DESIGN "Architecture rules").
 * A request is checked (engine, voice, targets), looked up in the cache (a hit in the asked format runs
 * nothing; another cached format is derived once), then joins an identical synthesis in flight or starts a
 * live job whose URL exists at once (production.ts; flight.ts: single-flight, dispatch with fallback, live
 * listeners; job.ts: one attempt on one engine). Delivery to targets starts with the URL; the result, the
 * counters and the log line come when the synthesis ends (finish.ts).
 */
import { performance } from 'node:perf_hooks';
import { AppError, toAppError } from '../shared/errors.js';
import { SHUTDOWN_GRACE_MS } from '../shared/shutdown.js';
import { budgetMs, type Deadline, deadlineError, startDeadlineTimer } from '../tts/deadline.js';
import { assertOpen, createSayContext, type DeadlineContext, type SayContext } from './context.js';
import { finish } from './finish.js';
import type { Flight } from './flight.js';
import { type AudioPreset, commonPreset, planDeliveries, withPreset } from './presets.js';
import { produce } from './production.js';
import type { SayRequest } from './request.js';
import type { PlannedTarget, SayOptions, SayService, SayServiceDeps, SayTicket } from './types.js';

export type { SayAudio } from './audio.js';
export type * from './types.js';
export { looksLikePath } from './voice-check.js';

/** The deadline of `request` and its timer; the timer's error names the stage the request reached. */
function startDeadline(ctx: SayContext, request: SayRequest, signal: AbortSignal | undefined) {
  const budget = budgetMs(request.deadlineS, request.expiryS, ctx.defaultDeadlineMs);
  const deadline: Deadline = { at: request.receivedAt + budget };
  const flights: Flight[] = [];
  const timer = startDeadlineTimer(deadline, () =>
    deadlineError(
      budget,
      flights.some((f) => f.reachedEngine) ? 'while an engine was speaking' : 'before an engine was free',
    ),
  );
  const guarded = signal ? AbortSignal.any([signal, timer.signal]) : timer.signal;
  const dl: DeadlineContext = { deadline, guarded, flights };
  return { dl, timer };
}

/** See SayService.begin: the say with its deadline; errors before the ticket are counted here. */
async function begin(
  ctx: SayContext,
  request: SayRequest,
  signal?: AbortSignal,
  options: SayOptions = {},
): Promise<SayTicket> {
  const { dl, timer } = startDeadline(ctx, request, signal);
  try {
    const ticket = await start(ctx, { ...request, deadlineAt: dl.deadline.at }, signal, options, dl);
    ticket.done.then(timer.clear, timer.clear);
    return ticket;
  } catch (err) {
    timer.clear();
    ctx.counters.errors++;
    const e = toAppError(err);
    if (e.code === 'DEADLINE_EXCEEDED') ctx.counters.deadlineDrops.queue++;
    throw e;
  }
}

/** The audio preset named by a request. @throws AppError TARGET_NOT_FOUND. */
function presetOf(ctx: SayContext, name: string): AudioPreset {
  if (!ctx.deps.presetOf)
    throw new AppError('TARGET_NOT_FOUND', `preset '${name}': no targets are configured`);
  return ctx.deps.presetOf(name);
}

/** The request's targets with their presets. @throws AppError TARGET_NOT_FOUND. */
function planTargets(ctx: SayContext, request: SayRequest): PlannedTarget[] {
  if (!request.targets.length) return [];
  if (!ctx.deps.planTargets) throw new AppError('TARGET_NOT_FOUND', 'no targets are configured');
  return ctx.deps.planTargets(request.targets);
}

/** Produces the request's audio (and its targets' preset variants) and starts its delivery. */
async function start(
  ctx: SayContext,
  request: SayRequest,
  signal: AbortSignal | undefined,
  options: SayOptions,
  dl: DeadlineContext,
): Promise<SayTicket> {
  assertOpen(ctx);
  const t0 = performance.now();
  const targets = planTargets(ctx, request);
  const base = request.preset ? withPreset(request, presetOf(ctx, request.preset)) : request;
  // The result's audio: the request with what all its targets' presets agree on.
  const own = withPreset(base, commonPreset(targets.map((t) => t.preset)));
  const main = await produce(ctx, own, dl);
  const deliveries = planDeliveries(targets, base, own, main.audio, async (wanted) => {
    const p = await produce(ctx, wanted, dl);
    p.settle().catch(() => {}); // its failure reaches the target through audio.ready()
    return p.audio;
  });
  const done = finish(ctx, { request, t0, deliveries, signal, options, settle: main.settle, dl });
  done.catch(() => {});
  return { id: request.id, engine: main.engine, audio: main.audio, cached: main.cached, done };
}

/** Stops taking work, waits up to `graceMs` for the flights, then aborts them and closes the encoder pool. */
async function stop(ctx: SayContext, graceMs: number): Promise<void> {
  ctx.closing = true;
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((r) => {
    timer = setTimeout(r, graceMs);
  });
  await Promise.race([ctx.flights.idle(), grace]);
  clearTimeout(timer);
  ctx.flights.abortAll(new AppError('SHUTTING_DOWN', 'shutting down'));
  await ctx.flights.idle();
  ctx.attemptDeps.pool.close();
}

/** Builds the say service. */
export function createSayService(deps: SayServiceDeps): SayService {
  const ctx = createSayContext(deps);
  return {
    begin: (request, signal, options) => begin(ctx, request, signal, options),
    async say(request, signal, options) {
      return (await begin(ctx, request, signal, options)).done;
    },
    liveAudio: (key, format) => ctx.registry.get(key, format),
    audioKey: (key, format) => ctx.registry.resolve(key, format),
    encoderPool: ctx.attemptDeps.pool,
    inFlight: () => ctx.flights.size,
    stats: () => structuredClone(ctx.counters),
    stop: (graceMs = SHUTDOWN_GRACE_MS) => stop(ctx, graceMs),
  };
}
