import { basename, dirname } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CONTENT_TYPES, OUTPUT_FORMATS, type OutputFormat } from '../../audio/format.js';
import type { CacheStore } from '../../cache/store.js';
import { AppError } from '../../shared/errors.js';

const AUDIO_NAME = /^([0-9a-f]{64})\.(opus|mp3|wav)$/;

/** Splits `<key>.<ext>` into a checked key and format. @throws AppError NOT_FOUND for anything else. */
export function parseAudioName(name: string): { key: string; format: OutputFormat } {
  const m = AUDIO_NAME.exec(name);
  if (!m || !(OUTPUT_FORMATS as readonly string[]).includes(m[2] as string)) {
    throw new AppError('NOT_FOUND', 'no such audio; names are <64 hex>.<opus|mp3|wav>');
  }
  return { key: m[1] as string, format: m[2] as OutputFormat };
}

/**
 * GET and HEAD /api/audio/<key>.<ext>: the cached file with Content-Length, Range and HEAD (via @fastify/static's
 * sendFile on the path the cache store gives for a validated key).
 */
export const audioRoutes: FastifyPluginAsync<{ cache: CacheStore }> = async (app, opts) => {
  const handler = async (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const { key, format } = parseAudioName(request.params.name);
    const entry = opts.cache.get(key, format);
    if (!entry)
      throw new AppError('NOT_FOUND', `audio ${key}.${format} is not in the cache (evicted or never made)`);
    reply.header('Content-Type', CONTENT_TYPES[format]);
    reply.header('Cache-Control', 'public, max-age=31536000, immutable');
    return reply.sendFile(basename(entry.path), dirname(entry.path), {
      contentType: false,
      cacheControl: false,
    });
  };
  app.get<{ Params: { name: string } }>('/api/audio/:name', handler);
};
