/**
 * `POST /v1/audio/speech`, the OpenAI speech API shape, so any OpenAI-speech client can use the hub (with its
 * cache and fallback) as a TTS provider. Source of the shape: OpenAI API reference, "Create speech"
 * (`model`, `input` ≤ 4096 chars, `voice`, `response_format` mp3|opus|aac|flac|wav|pcm, `speed` 0.25–4;
 * pcm is raw 24 kHz 16-bit signed little-endian mono; errors are `{error: {message, type, param, code}}`).
 * We serve opus (Ogg Opus), mp3, wav and pcm. The body becomes a SayRequest for the say service; nothing from it
 * is used as a path (audio is read from the cache entry of the result's key).
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { runFfmpeg } from '../../audio/ffmpeg.js';
import { CONTENT_TYPES, type OutputFormat } from '../../audio/format.js';
import { ffmpegInput, openAudio } from '../../audio/source.js';
import type { CacheStore } from '../../cache/store.js';
import { AppError, errorBody, toAppError } from '../../shared/errors.js';
import { type RequestDefaults, toSayRequest } from '../../tts/say-request.js';
import type { SayService } from '../../tts/say-service.js';

/** Formats this endpoint answers, and their content types (pcm: OpenAI's raw 24 kHz s16le mono). */
export const SPEECH_FORMATS = ['opus', 'mp3', 'wav', 'pcm'] as const;
export type SpeechFormat = (typeof SPEECH_FORMATS)[number];
const SPEECH_CONTENT_TYPES: Record<SpeechFormat, string> = {
  ...CONTENT_TYPES,
  pcm: 'audio/pcm; rate=24000; channels=1; encoding=s16le',
};
/** Sample rate of `pcm` answers, in Hz (OpenAI's documented rate). */
export const PCM_RATE_HZ = 24_000;

const SpeechBodySchema = z.object({
  model: z.string().max(128).default(''),
  input: z.string().max(4096),
  voice: z.string().max(128).optional(),
  response_format: z.string().default('mp3'),
  speed: z.number().min(0.25).max(4).default(1),
  instructions: z.string().optional(),
});

/** What the route needs besides the say service and cache. */
export interface OpenAiRouteOptions {
  sayService: SayService;
  cache: CacheStore;
  maxTextChars: number;
  /** Clean-up of requests (`text.clean_requests`, `text.urls`); the format is always `response_format`. */
  defaults?: RequestDefaults;
  /** Configured engine names; a `model` equal to one selects it, anything else uses the default engine. */
  engineNames(): string[];
  /**
   * Voice names of an engine (undefined = default engine), to drop OpenAI's own voice names (`alloy`, …) that
   * our engines do not have instead of failing; undefined when unknown (then the voice is passed as given).
   */
  engineVoices?(engine: string | undefined, signal: AbortSignal): Promise<string[] | undefined>;
  bitrateKbps: number;
  /** Largest body, in bytes, refused before it is parsed (option `limits.max_payload_kb`). */
  bodyLimit: number;
}

/** An OpenAI-shaped error answer. */
function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toAppError(err);
  const body = errorBody(e);
  return reply.status(e.httpStatus).send({
    error: {
      message: body.message,
      type: e.httpStatus < 500 ? 'invalid_request_error' : 'server_error',
      param: null,
      code: body.code,
    },
  });
}

/** ffmpeg `atempo` filters for `speed` (each instance takes 0.5–2, so 0.25 and 4 need two). */
export function atempoFilter(speed: number): string {
  const parts: number[] = [];
  let rest = speed;
  while (rest > 2) {
    parts.push(2);
    rest /= 2;
  }
  while (rest < 0.5) {
    parts.push(0.5);
    rest /= 0.5;
  }
  parts.push(rest);
  return parts.map((p) => `atempo=${Number(p.toFixed(4))}`).join(',');
}

/** ffmpeg output arguments of a streamed answer in `format`. */
function outputArgs(format: SpeechFormat, bitrateKbps: number): string[] {
  switch (format) {
    case 'pcm':
      return ['-f', 's16le', '-acodec', 'pcm_s16le', '-ar', String(PCM_RATE_HZ), '-ac', '1'];
    case 'wav':
      return ['-f', 'wav', '-acodec', 'pcm_s16le'];
    case 'mp3':
      return ['-f', 'mp3', '-c:a', 'libmp3lame', '-b:a', `${Math.max(bitrateKbps * 2, 64)}k`];
    case 'opus':
      return ['-f', 'ogg', '-c:a', 'libopus', '-b:a', `${bitrateKbps}k`];
  }
}

/** Maps the OpenAI body to say-request fields. @throws AppError BAD_PAYLOAD, FORMAT_UNSUPPORTED. */
async function translate(
  body: unknown,
  opts: OpenAiRouteOptions,
  signal: AbortSignal,
): Promise<{ format: SpeechFormat; speed: number; say: Record<string, unknown> }> {
  const parsed = SpeechBodySchema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('BAD_PAYLOAD', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  const b = parsed.data;
  if (!(SPEECH_FORMATS as readonly string[]).includes(b.response_format)) {
    throw new AppError(
      'FORMAT_UNSUPPORTED',
      `response_format '${b.response_format}' is not supported; use ${SPEECH_FORMATS.join(', ')}`,
    );
  }
  const format = b.response_format as SpeechFormat;
  const engine = opts.engineNames().includes(b.model) ? b.model : undefined;
  let voice = b.voice || undefined;
  if (voice && opts.engineVoices) {
    const known = await opts.engineVoices(engine, signal);
    if (known && known.length > 0 && !known.includes(voice)) voice = undefined;
  }
  // Formats we cache are asked for directly (a later identical request is a plain file read); pcm is decoded
  // from the Ogg Opus entry, which other inputs most likely share.
  const sayFormat: OutputFormat = format === 'pcm' ? 'opus' : format;
  return { format, speed: b.speed, say: { text: b.input, engine, voice, format: sayFormat } };
}

/** POST /v1/audio/speech (see the module comment). */
export const openAiRoutes: FastifyPluginAsync<OpenAiRouteOptions> = async (app, opts) => {
  app.post('/v1/audio/speech', { bodyLimit: opts.bodyLimit }, async (request, reply) => {
    const controller = new AbortController();
    // The response's close without a finished write means the client went away: stop synthesis and ffmpeg.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new AppError('ABORTED', 'the client went away'));
    });
    try {
      const t = await translate(request.body, opts, controller.signal);
      const say = toSayRequest(t.say, opts.maxTextChars, opts.defaults);
      const result = await opts.sayService.say(say, controller.signal);
      const entry = opts.cache.get(result.key, result.format);
      if (!entry) throw new AppError('CACHE_IO', 'the audio left the cache before it was sent; try again');
      reply.header('Content-Type', SPEECH_CONTENT_TYPES[t.format]);
      if (t.format !== 'pcm' && t.speed === 1) {
        reply.header('Content-Length', entry.bytes);
        return reply.send(openAudio(entry));
      }
      const filters = t.speed === 1 ? [] : ['-filter:a', atempoFilter(t.speed)];
      const input = ffmpegInput(entry);
      const proc = runFfmpeg(
        [...input.args, ...filters, ...outputArgs(t.format, opts.bitrateKbps), 'pipe:1'],
        controller.signal,
      );
      proc.stdin.end(input.stdin);
      proc.done.catch((err) => {
        if (!controller.signal.aborted) request.log.warn({ err }, 'speech transcode failed');
      });
      return reply.send(proc.stdout);
    } catch (err) {
      request.log.warn({ err: toAppError(err).message }, 'speech request failed');
      return sendError(reply, err);
    }
  });
};
