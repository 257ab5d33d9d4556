import { basename, dirname } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Recorder } from '../../recorder/index.js';

const IdParams = z.object({ id: z.string().min(1).max(200) });

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
export const recordingsRoutes: FastifyPluginAsync<{ recorder: Recorder }> = async (app, opts) => {
  const { recorder } = opts;

  app.get('/api/recordings', async () => ({ recordings: await recorder.list() }));

  app.get<{ Params: { id: string } }>('/api/recordings/:id/audio', async (request, reply) => {
    const { id } = IdParams.parse(request.params);
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

  app.delete<{ Params: { id: string } }>('/api/recordings/:id', async (request, reply) => {
    const { id } = IdParams.parse(request.params);
    await recorder.delete(id);
    return reply.status(204).send();
  });
};
