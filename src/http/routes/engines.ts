import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAppError } from '../../shared/errors.js';
import type { Dispatcher, EngineEntry } from '../../tts/dispatcher.js';
import type { Voice } from '../../tts/engine.js';
import type { HealthMonitor } from '../../tts/health-monitor.js';
import { ErrorResponse, figures, useZodSchemas } from '../schemas.js';

/** Time one engine may take to list its voices before its row carries an error instead. */
const VOICES_TIMEOUT_MS = 10_000;

const VoicesQuerySchema = z.object({
  engine: z.string().max(64).optional().meta({ description: "Only this engine's voices" }),
});

const EnginesResponse = figures("Every engine's health row, in configured order", {
  engines: z.array(z.looseObject({ name: z.string(), healthy: z.boolean() })),
});

const VoicesResponse = figures("Each engine's voices (error: the engine could not list them)", {
  engines: z.array(
    z.object({
      name: z.string(),
      voices: z.array(z.looseObject({ name: z.string() })),
      error: z.string().optional(),
    }),
  ),
});

/** One engine's voices in GET /api/voices; `error` when the engine could not list them (voices is then empty). */
export interface EngineVoices {
  name: string;
  voices: Voice[];
  error?: string;
}

async function listVoices(entry: EngineEntry, signal: AbortSignal): Promise<EngineVoices> {
  try {
    return { name: entry.engine.name, voices: await entry.engine.voices(signal) };
  } catch (err) {
    return { name: entry.engine.name, voices: [], error: toAppError(err, 'ENGINE_FAILED').message };
  }
}

/**
 * GET /api/engines → `{engines: EngineStatus[]}` (name, type, transport, healthy, breaker, checked_at, error?,
 * code?, max_parallel, active, queued, voice, balance, instances: [{endpoint, healthy, breaker, checked_at,
 * error?, active, served, weight}], speed: {samples, p50_ms, p95_ms, rtf_p50, rtf_p95} | null), in configured
 * order.
 * GET /api/voices[?engine=NAME] → `{engines: [{name, voices: [{name, languages, speakers?, description?}],
 * error?}]}`; each engine is asked in parallel (its own list: Wyoming describe, Piper `/voices`, xtts
 * `/speakers_list`, `espeak-ng --voices`, …). An unknown `engine` is 400 ENGINE_NOT_FOUND.
 */
export const engineRoutes: FastifyPluginAsyncZod<{ dispatcher: Dispatcher; monitor: HealthMonitor }> = async (
  app,
  opts,
) => {
  useZodSchemas(app);
  const enginesSchema = {
    summary: 'Engines and their health',
    tags: ['engines'],
    response: { 200: EnginesResponse },
  };
  app.get('/api/engines', { schema: enginesSchema }, async () => ({ engines: opts.monitor.snapshot() }));

  const voicesSchema = {
    summary: 'Voices of every engine (or one)',
    tags: ['engines'],
    querystring: VoicesQuerySchema,
    response: { 200: VoicesResponse, 400: ErrorResponse },
  };
  app.get('/api/voices', { schema: voicesSchema }, async (request, reply) => {
    const query = request.query;
    const entries = query.engine ? [opts.dispatcher.get(query.engine)] : opts.dispatcher.entries;
    const closed = new AbortController();
    // The response's close (not the request's, which fires once the body is read): the client went away.
    reply.raw.once('close', () => closed.abort());
    const signal = AbortSignal.any([closed.signal, AbortSignal.timeout(VOICES_TIMEOUT_MS)]);
    return { engines: await Promise.all(entries.map((e) => listVoices(e, signal))) };
  });
};
