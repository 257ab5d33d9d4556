import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { ChimeLibrary } from '../../chimes/library.js';

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

/**
 * GET /api/chimes → `{dir, chimes: [{name, source: "builtin"|"user", file, bytes, duration_ms?, error?}]}`:
 * every chime a request may name (user files in `dir` first; one that cannot be used carries its CHIME_INVALID
 * message). GET /api/chimes/<name>/audio → the chime's file (the panel's preview); unknown names are 400
 * CHIME_NOT_FOUND listing the known ones.
 */
export const chimeRoutes: FastifyPluginAsync<{ chimes: ChimeLibrary }> = async (app, opts) => {
  app.get('/api/chimes', async (_request, reply) => {
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

  app.get('/api/chimes/:name/audio', async (request, reply) => {
    const { name } = NameParams.parse(request.params);
    const ref = await opts.chimes.resolve(name);
    return reply
      .header('Content-Type', CHIME_CONTENT_TYPES[extname(ref.path)] ?? 'application/octet-stream')
      .header('Content-Length', ref.bytes)
      .header('Cache-Control', 'no-cache')
      .send(createReadStream(ref.path));
  });
};
