import { basename, dirname } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import { z } from 'zod';
import { CONTENT_TYPES, OUTPUT_FORMATS, type OutputFormat } from '../../audio/format.js';
import { openAudio } from '../../audio/source.js';
import type { CacheEntry, CacheStore } from '../../cache/store.js';
import type { LiveJob } from '../../say/live-audio.js';
import { AppError } from '../../shared/errors.js';
import { binary, ErrorResponse, useZodSchemas } from '../schemas.js';

const AUDIO_NAME = /^([0-9a-f]{64})\.(opus|mp3|wav)$/;

/** Splits `<key>.<ext>` into a checked key and format. @throws AppError NOT_FOUND for anything else. */
export function parseAudioName(name: string): { key: string; format: OutputFormat } {
  const m = AUDIO_NAME.exec(name);
  if (!m || !(OUTPUT_FORMATS as readonly string[]).includes(m[2] as string)) {
    throw new AppError('NOT_FOUND', 'no such audio; names are <64 hex>.<opus|mp3|wav>');
  }
  return { key: m[1] as string, format: m[2] as OutputFormat };
}

/** Where live audio comes from: the say service's live jobs and fallback aliases. */
export interface LiveAudioSource {
  liveAudio(key: string, format: OutputFormat): LiveJob | undefined;
  audioKey(key: string, format: OutputFormat): string;
}

/** Options of the audio routes: the cache, the URL key mapping, and (optional) the live jobs. */
export interface AudioRouteOptions {
  cache: CacheStore;
  /** The cache key a URL key stands for (src/cache/url-keys.ts); undefined answers 404. */
  cacheKeyOf(urlKey: string): string | undefined;
  live?: LiveAudioSource;
}

/** Answers a live job: chunked bytes so far then live bytes (HEAD: headers only). */
function sendLive(request: FastifyRequest, reply: FastifyReply, job: LiveJob) {
  reply.header('Content-Type', CONTENT_TYPES[job.format]);
  // Not cacheable: the same URL answers with the finished file (Content-Length, Range) once synthesis ends.
  reply.header('Cache-Control', 'no-store');
  if (request.method === 'HEAD') return reply.send();
  return reply.send(job.subscribe());
}

/**
 * Answers audio held in memory (the cache is degraded: the disk refused it) like a file: Content-Length,
 * Accept-Ranges and one byte range (range-parser; several ranges get the whole body, an unsatisfiable one 416).
 */
function sendMemory(request: FastifyRequest, reply: FastifyReply, entry: CacheEntry & { data: Buffer }) {
  const size = entry.data.length;
  reply.header('Content-Type', CONTENT_TYPES[entry.format]);
  reply.header('Accept-Ranges', 'bytes');
  reply.header('Cache-Control', 'no-cache');
  const header = request.headers.range;
  const ranges = header ? parseRange(size, header, { combine: true }) : -2;
  if (ranges === -1) {
    return reply.status(416).header('Content-Range', `bytes */${size}`).send();
  }
  const one = Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1 ? ranges[0] : undefined;
  if (one) {
    reply.status(206).header('Content-Range', `bytes ${one.start}-${one.end}/${size}`);
    reply.header('Content-Length', one.end - one.start + 1);
  } else {
    reply.header('Content-Length', size);
  }
  if (request.method === 'HEAD') return reply.send();
  return reply.send(openAudio(entry, one));
}

/**
 * GET and HEAD /api/audio/<url key>.<ext>, the URL key mapped back to its cache key (a capability: see
 * src/cache/url-keys.ts; unknown keys answer 404). While the audio is being synthesized: a chunked live stream (Ogg Opus
 * pages as ffmpeg writes them; every listener gets the bytes so far, then live bytes; the stream is cut when
 * synthesis fails). Afterwards: the cached file with Content-Length, Range and HEAD (@fastify/static's sendFile
 * on the path the cache store gives for a validated key), or the same from memory when the disk refused it. A URL handed out before a fallback engine spoke
 * serves the fallback's audio.
 */
export const audioRoutes: FastifyPluginAsync<AudioRouteOptions> = async (app, opts) => {
  useZodSchemas(app);
  const handler = async (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const { key: urlKey, format } = parseAudioName(request.params.name);
    const key = opts.cacheKeyOf(urlKey);
    if (key === undefined) throw new AppError('NOT_FOUND', `audio ${urlKey}.${format} is not known here`);
    const job = opts.live?.liveAudio(key, format);
    if (job && job.state !== 'failed') return sendLive(request, reply, job);
    const entry =
      opts.cache.get(key, format) ?? opts.cache.get(opts.live?.audioKey(key, format) ?? key, format);
    if (!entry)
      throw new AppError(
        'NOT_FOUND',
        `audio ${urlKey}.${format} is not in the cache (evicted or never made)`,
      );
    if (entry.data) return sendMemory(request, reply, { ...entry, data: entry.data });
    reply.header('Content-Type', CONTENT_TYPES[format]);
    reply.header('Cache-Control', 'public, max-age=31536000, immutable');
    return reply.sendFile(basename(entry.path), dirname(entry.path), {
      contentType: false,
      cacheControl: false,
    });
  };
  const schema = {
    summary: 'Audio by URL key (live while synthesized, then the cached file with Range)',
    tags: ['audio'],
    // The name is checked by the handler: anything but <64 hex>.<opus|mp3|wav> is 404, as for an unknown key.
    params: z.object({ name: z.string().meta({ description: '<64 hex URL key>.<opus|mp3|wav>' }) }),
    produces: Object.values(CONTENT_TYPES),
    response: {
      200: binary('The audio; chunked while it is being synthesized'),
      206: binary('One byte range of the cached audio'),
      404: ErrorResponse,
      416: z.null().optional().meta({ description: 'Range not satisfiable' }),
    },
  };
  app.get<{ Params: { name: string } }>('/api/audio/:name', { schema }, handler);
};
