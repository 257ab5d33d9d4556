import { tmpdir } from 'node:os';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ZodError } from 'zod';
import type { CacheStore } from '../cache/store.js';
import { AppError, errorBody } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { SayService } from '../tts/say-service.js';
import { audioRoutes } from './routes/audio.js';
import { type HealthFn, healthRoutes } from './routes/health.js';
import { sayRoutes } from './routes/say.js';

/** Everything the HTTP adapter calls. */
export interface HttpDeps {
  sayService: SayService;
  cache: CacheStore;
  health: HealthFn;
  maxTextChars: number;
  log: Log;
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
      { level: ['debug', 'trace'].includes(deps.log.level) ? deps.log.level : 'warn' },
    ) as FastifyServerOptions['loggerInstance'],
    bodyLimit: 256 * 1024,
  });
  app.setErrorHandler((err, request, reply) => {
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
  await app.register(healthRoutes, { health: deps.health });
  await app.register(sayRoutes, { sayService: deps.sayService, maxTextChars: deps.maxTextChars });
  await app.register(audioRoutes, { cache: deps.cache });
  return app;
}
