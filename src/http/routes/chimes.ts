import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ChimeLibrary } from '../../chimes/library.js';
import { binary, ErrorResponse, figures, useZodSchemas } from '../schemas.js';

/** Time the listing may take (it decodes chimes not seen before, once each). */
const LIST_TIMEOUT_MS = 20_000;

/** Content types of chime files by extension. */
const CHIME_CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.ogg': 'audio/ogg',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.flac': 'audio/flac',
};

const NameParams = z.object({ name: z.string().max(64) });

const ChimesResponse = figures('The chimes a request may name; user files first', {
  dir: z.string(),
  chimes: z.array(
    z.object({
      name: z.string(),
      source: z.enum(['builtin', 'user']),
      file: z.string(),
      bytes: z.number(),
      duration_ms: z.number().optional(),
      error: z.string().optional(),
    }),
  ),
});

/**
 * GET /api/chimes → `{dir, chimes: [{name, source: "builtin"|"user", file, bytes, duration_ms?, error?}]}`:
 * every chime a request may name (user files in `dir` first; one that cannot be used carries its CHIME_INVALID
 * message). GET /api/chimes/<name>/audio → the chime's file (the panel's preview); unknown names are 400
 * CHIME_NOT_FOUND listing the known ones.
 */
export const chimeRoutes: FastifyPluginAsyncZod<{ chimes: ChimeLibrary }> = async (app, opts) => {
  useZodSchemas(app);
  const listSchema = { summary: 'The chimes', tags: ['chimes'], response: { 200: ChimesResponse } };
  app.get('/api/chimes', { schema: listSchema }, async (_request, reply) => {
    const closed = new AbortController();
    reply.raw.once('close', () => closed.abort());
    const rows = await opts.chimes.list(
      AbortSignal.any([closed.signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]),
    );
    return {
      dir: opts.chimes.userDir,
      chimes: rows.map((c) => ({
        name: c.name,
        source: c.source,
        file: c.file,
        bytes: c.bytes,
        ...(c.durationMs !== undefined ? { duration_ms: c.durationMs } : {}),
        ...(c.error !== undefined ? { error: c.error } : {}),
      })),
    };
  });

  const audioSchema = {
    summary: "A chime's file",
    tags: ['chimes'],
    params: NameParams,
    produces: Object.values(CHIME_CONTENT_TYPES),
    response: { 200: binary('The chime file as stored'), 400: ErrorResponse },
  };
  app.get('/api/chimes/:name/audio', { schema: audioSchema }, async (request, reply) => {
    const { name } = request.params;
    const ref = await opts.chimes.resolve(name);
    return reply
      .header('Content-Type', CHIME_CONTENT_TYPES[extname(ref.path)] ?? 'application/octet-stream')
      .header('Content-Length', ref.bytes)
      .header('Cache-Control', 'no-cache')
      .send(createReadStream(ref.path));
  });
};
