import type { FastifyPluginAsync } from 'fastify';
import { toAppError } from '../../shared/errors.js';
import { errorPayload, resultPayload } from '../../tts/result.js';
import { toSayRequest } from '../../tts/say-request.js';
import type { SayService } from '../../tts/say-service.js';

/**
 * POST /api/say: the body as `tts/say` JSON; answers the result JSON (200), or `{id, ok:false, error}` with the
 * error's HTTP status.
 */
export const sayRoutes: FastifyPluginAsync<{ sayService: SayService; maxTextChars: number }> = async (
  app,
  opts,
) => {
  app.post('/api/say', async (request, reply) => {
    let say: ReturnType<typeof toSayRequest>;
    try {
      say = toSayRequest(request.body ?? {}, opts.maxTextChars);
    } catch (err) {
      const e = toAppError(err, 'BAD_PAYLOAD');
      const id = typeof e.details?.id === 'string' ? e.details.id : '';
      request.log.warn({ id, code: e.code, err: e.message }, 'say request refused');
      return reply.status(e.httpStatus).send(errorPayload(id, e));
    }
    try {
      const result = await opts.sayService.say(say);
      return reply.send(resultPayload(result));
    } catch (err) {
      const e = toAppError(err);
      request.log.warn({ id: say.id, code: e.code, err: e.message }, 'say failed');
      return reply.status(e.httpStatus).send(errorPayload(say.id, e));
    }
  });
};
