import { tmpdir } from 'node:os';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ZodError } from 'zod';
import type { CacheStore } from '../cache/store.js';
import type { ChimeLibrary } from '../chimes/library.js';
import type { DoctorReport } from '../doctor/index.js';
import type { HubEvents } from '../hub-events.js';
import type { Recorder } from '../recorder/index.js';
import type { RequestDefaults } from '../say/request.js';
import type { SayService } from '../say/service.js';
import { AppError, errorBody } from '../shared/errors.js';
import type { EventHub } from '../shared/events.js';
import type { Log } from '../shared/log.js';
import type { HubMetrics } from '../status/metrics.js';
import type { Dispatcher } from '../tts/dispatcher.js';
import type { HealthMonitor } from '../tts/health-monitor.js';
import { createVoiceCatalog, type VoiceCatalog } from '../tts/voice-catalog.js';
import { installAuth } from './auth.js';
import { audioRoutes } from './routes/audio.js';
import { cacheRoutes } from './routes/cache.js';
import { chimeRoutes } from './routes/chimes.js';
import { doctorRoutes } from './routes/doctor.js';
import { engineRoutes } from './routes/engines.js';
import { eventsRoutes } from './routes/events.js';
import { type HealthFn, healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { openAiRoutes } from './routes/openai.js';
import { panelRoutes } from './routes/panel.js';
import { recordingsRoutes } from './routes/recordings.js';
import { sayRoutes } from './routes/say.js';
import { type TargetsFn, targetRoutes } from './routes/targets.js';

/** Everything the HTTP adapter calls. */
export interface HttpDeps {
  sayService: SayService;
  cache: CacheStore;
  health: HealthFn;
  /** Engines and their voices (GET /api/voices). */
  dispatcher: Dispatcher;
  /** Engine health rows (GET /api/engines). */
  monitor: HealthMonitor;
  maxTextChars: number;
  /** Format and clean-up of requests that do not say (`default_format`, `text.clean_requests`, `text.urls`). */
  requestDefaults?: RequestDefaults;
  log: Log;
  /** The recorder (GET/DELETE /api/recordings); absent when `recorder.enabled` is false. */
  recorder?: Recorder;
  /** The hub's events, streamed to the panel (GET /api/events). */
  events: EventHub<HubEvents>;
  /** The cache's bounds for GET /api/cache: options `cache.max_entries` and `cache.max_mb` in bytes. */
  cacheLimits: { maxEntries: number; maxBytes: number };
  /** `http.api_token`: when set, peers other than ingress and loopback need it (src/http/auth.ts). */
  apiToken?: string;
  /** Prometheus metrics for GET /metrics; absent: no such route. */
  metrics?: HubMetrics;
  /** `opus.bitrate_kbps`, for audio the OpenAI endpoint transcodes; default 32. */
  bitrateKbps?: number;
  /** Every engine's voices for `voice` routing on /v1/audio/speech; default: a catalog over the dispatcher's engines. */
  voices?: VoiceCatalog;
  /** Runs the doctor's checks (GET /api/doctor); absent: no such route. */
  doctor?: () => Promise<DoctorReport>;
  /** The chimes (GET /api/chimes); absent: no such routes. */
  chimes?: ChimeLibrary;
  /** Configured targets and groups (GET /api/targets); absent: no such route. */
  targets?: TargetsFn;
  /** The cache key a URL key of `/api/audio/<url key>.<ext>` stands for (src/cache/url-keys.ts). */
  cacheKeyOf(urlKey: string): string | undefined;
  /** Body limits in bytes: `say` for POST /api/say and /v1/audio/speech, `other` for every other route. */
  bodyLimits?: { say: number; other: number };
}

/** Time a client has to send a request's headers, in ms. */
export const HEADERS_TIMEOUT_MS = 15_000;

/**
 * fastify's "body too large" (FST_ERR_CTP_BODY_TOO_LARGE, raised from Content-Length or while reading, before
 * the body is parsed) as PAYLOAD_TOO_LARGE naming the limit and its option; undefined for anything else.
 */
function bodyTooLarge(err: unknown, limit: number): AppError | undefined {
  if ((err as { code?: unknown }).code !== 'FST_ERR_CTP_BODY_TOO_LARGE') return undefined;
  return new AppError(
    'PAYLOAD_TOO_LARGE',
    `request body is over the limit of ${limit} bytes (limits.max_payload_kb for say bodies, limits.http_body_kb for others)`,
  );
}

/**
 * Builds the fastify app with every route; never listens (tests use `inject()` or `listen()` themselves).
 * One error handler: AppError → its status and `{error:{code, message}}`; zod issues → 400; others → generic 500.
 */
export async function buildServer(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request logs only at debug/trace; at info they would drown the say logs.
    loggerInstance: deps.log.child(
      { mod: 'http' },
      // info → warn; keep anything quieter (error, silent) or louder (debug, trace) as configured.
      { level: deps.log.levelVal === 30 ? 'warn' : deps.log.level },
    ) as FastifyServerOptions['loggerInstance'],
    bodyLimit: deps.bodyLimits?.other ?? 16 * 1024,
  });
  const sayBodyLimit = deps.bodyLimits?.say ?? 64 * 1024;
  // A client gets this long to send its request's headers (Node's default is 60 s): slow-header clients cannot
  // hold connections for long, nor delay a stop.
  app.server.headersTimeout = HEADERS_TIMEOUT_MS;
  app.setErrorHandler((thrown, request, reply) => {
    const err = bodyTooLarge(thrown, request.routeOptions.bodyLimit ?? 0) ?? thrown;
    if (err instanceof AppError) {
      if (err.httpStatus >= 500) request.log.warn({ code: err.code, err: err.message }, 'request failed');
      return reply.status(err.httpStatus).send({ error: errorBody(err) });
    }
    if (err instanceof ZodError) {
      return reply
        .status(400)
        .send({ error: { code: 'BAD_PAYLOAD', message: err.issues[0]?.message ?? 'invalid' } });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) {
      return reply.status(status).send({ error: { code: 'BAD_PAYLOAD', message: (err as Error).message } });
    }
    request.log.error({ err }, 'unhandled error');
    return reply
      .status(500)
      .send({ error: { code: 'INTERNAL', message: 'internal error; see the add-on log' } });
  });
  // sendFile only: cached audio is served by key through the cache store, never by a client path.
  await app.register(fastifyStatic, { root: tmpdir(), serve: false });
  installAuth(app, { apiToken: deps.apiToken ?? '' });
  await app.register(healthRoutes, { health: deps.health });
  await app.register(sayRoutes, {
    sayService: deps.sayService,
    maxTextChars: deps.maxTextChars,
    defaults: deps.requestDefaults,
    bodyLimit: sayBodyLimit,
  });
  await app.register(audioRoutes, { cache: deps.cache, cacheKeyOf: deps.cacheKeyOf, live: deps.sayService });
  await app.register(openAiRoutes, {
    sayService: deps.sayService,
    maxTextChars: deps.maxTextChars,
    defaults: deps.requestDefaults,
    bitrateKbps: deps.bitrateKbps ?? 32,
    bodyLimit: sayBodyLimit,
    engineNames: () => deps.dispatcher.entries.map((e) => e.engine.name),
    voices: deps.voices ?? createVoiceCatalog({ entries: deps.dispatcher.entries }),
  });
  if (deps.metrics) await app.register(metricsRoutes, { metrics: deps.metrics });
  if (deps.doctor) await app.register(doctorRoutes, { doctor: deps.doctor });
  if (deps.recorder) await app.register(recordingsRoutes, { recorder: deps.recorder });
  await app.register(engineRoutes, { dispatcher: deps.dispatcher, monitor: deps.monitor });
  await app.register(cacheRoutes, { cache: deps.cache, sayService: deps.sayService, ...deps.cacheLimits });
  await app.register(eventsRoutes, { events: deps.events, status: deps.health });
  if (deps.chimes) await app.register(chimeRoutes, { chimes: deps.chimes });
  if (deps.targets) await app.register(targetRoutes, { targets: deps.targets });
  await app.register(panelRoutes, {});
  return app;
}
