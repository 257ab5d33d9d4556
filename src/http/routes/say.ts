import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { fromSayBody, SayBodySchema, sayBodyError } from '../../inputs/say-payload.js';
import type { RequestDefaults } from '../../say/request.js';
import { errorPayload, resultPayload } from '../../say/result.js';
import type { SayService, SayTicket } from '../../say/service.js';
import { toAppError } from '../../shared/errors.js';
import { figures, useZodSchemas } from '../schemas.js';

/**
 * The early answer of `"wait": false`: what is known when the audio URL exists. `live: true` means the URL
 * streams while synthesis runs; the final result still goes to `tts/result` subscribers of other inputs only
 * (HTTP answers once). A cache hit answers the full result instead.
 */
export interface StartedPayload {
  id: string;
  ok: true;
  live: true;
  engine: string;
  cached: false;
  url: string;
  format: string;
  text_chars: number;
}

function startedPayload(ticket: SayTicket, textChars: number): StartedPayload {
  return {
    id: ticket.id,
    ok: true,
    live: true,
    engine: ticket.engine,
    cached: false,
    url: ticket.audio.url,
    format: ticket.audio.format,
    text_chars: textChars,
  };
}

const SayResponse = figures('The result (as on tts/result), or with "wait": false the early answer', {
  id: z.string(),
  ok: z.literal(true),
  engine: z.string().optional(),
  cached: z.boolean().optional(),
  url: z.string().optional(),
  format: z.string().optional(),
  text_chars: z.number(),
});

const SayError = figures('A refused or failed request', {
  id: z.string(),
  ok: z.literal(false),
  error: z.object({ code: z.string(), message: z.string() }),
});

const schema = {
  summary: 'Say something (the tts/say JSON)',
  tags: ['say'],
  body: SayBodySchema,
  response: { 200: SayResponse, '4xx': SayError, '5xx': SayError },
};

/**
 * POST /api/say: the body as `tts/say` JSON; answers the result JSON (200), or `{id, ok:false, error}` with the
 * error's HTTP status. With `"wait": false` it answers as soon as the audio URL exists (StartedPayload, or the
 * full result on a cache hit); synthesis goes on, and a failure after that answer shows only in the stream.
 */
export const sayRoutes: FastifyPluginAsyncZod<{
  sayService: SayService;
  maxTextChars: number;
  defaults?: RequestDefaults;
  /** Largest body, in bytes, refused before it is parsed (option `limits.max_payload_kb`). */
  bodyLimit: number;
}> = async (app, opts) => {
  useZodSchemas(app);
  // attachValidation: a refusal answers `{id, ok:false, error}` with the body's own id, not the generic error body.
  app.post(
    '/api/say',
    { bodyLimit: opts.bodyLimit, schema, attachValidation: true },
    async (request, reply) => {
      let say: ReturnType<typeof fromSayBody>;
      try {
        if (request.validationError) throw sayBodyError(request.body ?? {}) ?? request.validationError;
        say = fromSayBody(request.body, opts.maxTextChars, opts.defaults);
      } catch (err) {
        const e = toAppError(err, 'BAD_PAYLOAD');
        const id = typeof e.details?.id === 'string' ? e.details.id : '';
        request.log.warn({ id, code: e.code, err: e.message }, 'say request refused');
        return reply.status(e.httpStatus).send(errorPayload(id, e));
      }
      try {
        if (say.wait) return reply.send(resultPayload(await opts.sayService.say(say)));
        const ticket = await opts.sayService.begin(say);
        ticket.done.catch((err: unknown) => {
          const e = toAppError(err);
          request.log.warn({ id: say.id, code: e.code, err: e.message }, 'say failed after answering');
        });
        if (ticket.cached) return reply.send(resultPayload(await ticket.done));
        return reply.send(startedPayload(ticket, say.text.length));
      } catch (err) {
        const e = toAppError(err);
        request.log.warn({ id: say.id, code: e.code, err: e.message }, 'say failed');
        return reply.status(e.httpStatus).send(errorPayload(say.id, e));
      }
    },
  );
};
