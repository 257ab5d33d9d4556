import { basename, dirname } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Recorder } from '../../recorder/index.js';
import { binary, ErrorResponse, figures, NoContent, useZodSchemas } from '../schemas.js';

const IdParams = z.object({ id: z.string().min(1).max(200) });

const RecordingsResponse = figures('Recordings: in progress first, then newest first', {
  recordings: z.array(
    z.looseObject({ id: z.string(), device: z.string(), in_progress: z.boolean(), bytes: z.number() }),
  ),
});

/**
 * The recordings API (DESIGN "HTTP"):
 * - `GET /api/recordings` → `{recordings: [{id, device, file, url, in_progress, bytes, duration_ms, started_at,
 *   ended_at?}]}`, in-progress rows first, then newest first.
 * - `GET /api/recordings/<id>/audio` → `audio/ogg`. While recording: the partial file from its start, followed
 *   live (chunked, no length) until the recording ends, so a player plays it as it grows. Finished: the file
 *   with Content-Length, Range and HEAD.
 * - `DELETE /api/recordings/<id>` → 204; 409 CONFLICT while in progress; 404 NOT_FOUND; 400 for a bad id.
 * Files are found by id through the recorder, never by a client-supplied path.
 */
export const recordingsRoutes: FastifyPluginAsyncZod<{ recorder: Recorder }> = async (app, opts) => {
  useZodSchemas(app);
  const { recorder } = opts;

  const listSchema = {
    summary: 'The recordings',
    tags: ['recordings'],
    response: { 200: RecordingsResponse },
  };
  app.get('/api/recordings', { schema: listSchema }, async () => ({ recordings: await recorder.list() }));

  const audioSchema = {
    summary: "A recording's audio (followed live while it records)",
    tags: ['recordings'],
    params: IdParams,
    produces: ['audio/ogg'],
    response: { 200: binary('Ogg Opus'), 206: binary('A byte range'), 404: ErrorResponse },
  };
  app.get('/api/recordings/:id/audio', { schema: audioSchema }, async (request, reply) => {
    const { id } = request.params;
    const info = await recorder.get(id);
    if (!info.inProgress) {
      reply.header('Content-Type', 'audio/ogg');
      reply.header('Cache-Control', 'no-cache');
      return reply.sendFile(basename(info.path), dirname(info.path), {
        contentType: false,
        cacheControl: false,
      });
    }
    // The follower ends when the client goes away: abort on the socket's close.
    const controller = new AbortController();
    reply.raw.once('close', () => controller.abort(new Error('client closed')));
    const audio = await recorder.audio(id, controller.signal);
    audio.body.on('error', () => {}); // an abort after the client left is expected, not an error to log
    reply.header('Content-Type', audio.contentType);
    reply.header('Cache-Control', 'no-store');
    return reply.send(audio.body);
  });

  const deleteSchema = {
    summary: 'Delete a finished recording',
    tags: ['recordings'],
    params: IdParams,
    response: { 204: NoContent, 404: ErrorResponse, 409: ErrorResponse },
  };
  app.delete('/api/recordings/:id', { schema: deleteSchema }, async (request, reply) => {
    const { id } = request.params;
    await recorder.delete(id);
    // No body: fastify sends 204 without Content-Type or Content-Length.
    return reply.status(204).send(undefined);
  });
};
