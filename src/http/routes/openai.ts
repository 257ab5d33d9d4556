/**
 * `POST /v1/audio/speech`, the OpenAI speech API shape, so any OpenAI-speech client (the official `openai`
 * packages, Home Assistant integrations) can use the hub, with its cache and fallback, as a TTS provider.
 * Source of the shape: OpenAI API reference, "Create speech", and openai-python
 * `src/openai/types/audio/speech_create_params.py`: `model`, `input` (≤ 4096 chars), `voice` (a name or
 * `{id}`), `instructions`, `response_format` mp3 | opus | aac | flac | wav | pcm (default mp3; pcm is raw 24 kHz
 * 16-bit signed little-endian mono), `speed` 0.25–4, `stream_format` `audio` (default) | `sse`. Errors are
 * `{error: {message, type, param, code}}`.
 *
 * The answer streams (chunked) while the engine speaks, in every format; a cache hit streams from the file.
 * Headers go out with the first audio bytes, so a failure before any audio still answers with a status and the
 * error JSON; a failure later cuts the stream (`audio`) or sends an `error` event (`sse`). With `sse` each
 * piece of audio is a `speech.audio.delta` event (`audio`: base64) and the end is `speech.audio.done` with
 * `usage` (all zero: nothing is billed here).
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  isStreamFormat,
  STREAM_CONTENT_TYPES,
  STREAM_FORMATS,
  type StreamFormat,
} from '../../audio/stream-formats.js';
import { toSayRequest } from '../../inputs/say-payload.js';
import type { RequestDefaults } from '../../say/request.js';
import type { SayService } from '../../say/service.js';
import { sayFormatFor, streamSay } from '../../say/stream.js';
import { AppError, errorBody, toAppError } from '../../shared/errors.js';
import type { VoiceCatalog } from '../../tts/voice-catalog.js';
import { binary, figures, useZodSchemas } from '../schemas.js';

/** Largest base64 audio in one `speech.audio.delta` event, in bytes of audio. */
const SSE_DELTA_BYTES = 24 * 1024;

const SpeechBodySchema = z.object({
  model: z.string().max(128).default(''),
  input: z.string().max(4096),
  voice: z.union([z.string().max(256), z.object({ id: z.string().max(256) })]).optional(),
  response_format: z.string().max(16).default('mp3'),
  speed: z.number().min(0.25).max(4).default(1),
  stream_format: z.enum(['audio', 'sse']).default('audio'),
  instructions: z.string().max(4096).optional(),
});
type SpeechBody = z.infer<typeof SpeechBodySchema>;

/** OpenAI's error body. */
const OpenAiErrorResponse = figures("OpenAI's error shape", {
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.null(),
    code: z.string(),
  }),
});

const schema = {
  summary: 'OpenAI-compatible speech (Create speech)',
  tags: ['openai'],
  body: SpeechBodySchema,
  produces: [...new Set([...Object.values(STREAM_CONTENT_TYPES), 'text/event-stream'])],
  response: {
    200: binary('The audio in response_format, chunked; with stream_format sse: text/event-stream events'),
    '4xx': OpenAiErrorResponse,
    '5xx': OpenAiErrorResponse,
  },
};

/** The BAD_PAYLOAD of a body that failed {@link SpeechBodySchema}: its first issue as `field: message`. */
function badBody(body: unknown): AppError {
  const issue = SpeechBodySchema.safeParse(body ?? {}).error?.issues[0];
  return new AppError('BAD_PAYLOAD', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
}

/** What the route needs besides the say service. */
export interface OpenAiRouteOptions {
  sayService: SayService;
  maxTextChars: number;
  /** Clean-up of requests (`text.clean_requests`, `text.urls`); the format is always `response_format`. */
  defaults?: RequestDefaults;
  /** Configured engine names; a `model` equal to one selects it, anything else uses the default engine. */
  engineNames(): string[];
  /** Every engine's voices, to route `voice` (`<engine>:<voice>` or a bare name) to its engine. */
  voices: VoiceCatalog;
  bitrateKbps: number;
  /** Largest body, in bytes, refused before it is parsed (option `limits.max_payload_kb`). */
  bodyLimit: number;
}

/** The OpenAI error body of `err`. */
function openAiError(err: unknown): { status: number; body: Record<string, unknown> } {
  const e = toAppError(err);
  const body = errorBody(e);
  return {
    status: e.httpStatus,
    body: {
      error: {
        message: body.message,
        type: e.httpStatus < 500 ? 'invalid_request_error' : 'server_error',
        param: null,
        code: body.code,
      },
    },
  };
}

interface Translated {
  format: StreamFormat;
  speed: number;
  sse: boolean;
  say: Record<string, unknown>;
}

/** Maps the OpenAI body (validated) to a stream shape and say-request fields. @throws AppError FORMAT_UNSUPPORTED. */
async function translate(b: SpeechBody, opts: OpenAiRouteOptions, signal: AbortSignal): Promise<Translated> {
  if (!isStreamFormat(b.response_format)) {
    throw new AppError(
      'FORMAT_UNSUPPORTED',
      `response_format '${b.response_format}' is not supported; use ${STREAM_FORMATS.join(', ')}`,
    );
  }
  const model = opts.engineNames().includes(b.model) ? b.model : undefined;
  const voiceName = typeof b.voice === 'object' ? b.voice.id : b.voice;
  const routed = await opts.voices.resolve(voiceName || undefined, signal, model);
  // An explicit model (engine) keeps its engine: a voice of another engine is dropped, not followed.
  const engine = model ?? routed.engine;
  const voice = routed.engine === engine ? routed.voice : undefined;
  const shape = { format: b.response_format, speed: b.speed };
  return {
    ...shape,
    sse: b.stream_format === 'sse',
    say: { text: b.input, engine, voice, format: sayFormatFor(shape) },
  };
}

/** Writes SSE events for `first` and the rest of `it`, then `speech.audio.done` (or an `error` event). */
async function writeSse(
  reply: FastifyReply,
  request: FastifyRequest,
  first: Buffer,
  it: AsyncIterator<Buffer>,
): Promise<void> {
  const out = reply.raw;
  const send = async (event: Record<string, unknown>): Promise<void> => {
    if (!out.write(`data: ${JSON.stringify(event)}\n\n`)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          out.off('drain', done).off('close', done);
          resolve();
        };
        out.once('drain', done).once('close', done);
      });
    }
  };
  const delta = async (buf: Buffer): Promise<void> => {
    for (let at = 0; at < buf.length && !out.destroyed; at += SSE_DELTA_BYTES) {
      await send({
        type: 'speech.audio.delta',
        audio: buf.subarray(at, at + SSE_DELTA_BYTES).toString('base64'),
      });
    }
  };
  try {
    await delta(first);
    for (let next = await it.next(); !next.done && !out.destroyed; next = await it.next())
      await delta(next.value);
    await send({ type: 'speech.audio.done', usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 } });
  } catch (err) {
    request.log.warn({ err: toAppError(err).message }, 'speech stream failed');
    if (!out.destroyed) await send({ type: 'error', ...openAiError(err).body });
  } finally {
    out.end();
  }
}

/** Yields `first`, then the rest of `it`. */
async function* resume(first: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield first;
  for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
}

/** POST /v1/audio/speech (see the module comment). */
export const openAiRoutes: FastifyPluginAsyncZod<OpenAiRouteOptions> = async (app, opts) => {
  useZodSchemas(app);
  // attachValidation: a bad body answers in OpenAI's error shape, not the hub's.
  const routeOptions = { bodyLimit: opts.bodyLimit, schema, attachValidation: true };
  app.post('/v1/audio/speech', routeOptions, async (request, reply) => {
    const controller = new AbortController();
    // The response's close without a finished write means the client went away: stop synthesis and ffmpeg.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new AppError('ABORTED', 'the client went away'));
    });
    let first: IteratorResult<Buffer>;
    let it: AsyncIterator<Buffer>;
    let t: Translated;
    try {
      if (request.validationError) throw badBody(request.body);
      t = await translate(request.body, opts, controller.signal);
      const say = toSayRequest(t.say, opts.maxTextChars, opts.defaults);
      const stream = await streamSay(opts, say, t, controller.signal);
      it = stream.bytes[Symbol.asyncIterator]();
      // Headers wait for the first audio, so an engine failure before any audio is still a proper error.
      first = await it.next();
      if (first.done) throw new AppError('ENGINE_FAILED', 'the engine produced no audio for this text');
    } catch (err) {
      request.log.warn({ err: toAppError(err).message }, 'speech request failed');
      const e = openAiError(err);
      return reply.status(e.status).send(e.body);
    }
    if (t.sse) {
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      await writeSse(reply, request, first.value, it);
      return reply;
    }
    reply.header('Content-Type', STREAM_CONTENT_TYPES[t.format]);
    reply.header('Cache-Control', 'no-store');
    const body = resume(first.value, it);
    return reply.send(
      Readable.from(
        (async function* guarded() {
          try {
            yield* body;
          } catch (err) {
            // Headers are out: cutting the stream is how the client learns (a truncated chunked answer).
            request.log.warn({ err: toAppError(err).message }, 'speech stream failed');
            throw err;
          }
        })(),
      ),
    );
  });
};
