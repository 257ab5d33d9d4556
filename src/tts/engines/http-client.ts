import type { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { Log } from '../../shared/log.js';
import { abortError, errorMessage } from './engine-errors.js';

/**
 * HTTP for the HTTP engines, on Node's fetch (undici): every call takes the caller's AbortSignal, bodies are
 * read as they arrive, and failures map to the engine error codes the dispatcher acts on:
 * connection refused/reset/unknown host → ENGINE_UNAVAILABLE; an HTTP error status or a connection that
 * drops mid-body → ENGINE_FAILED; a body that is not what the API promises → ENGINE_BAD_RESPONSE;
 * abort → ENGINE_TIMEOUT (timeout signal) or ABORTED.
 */

/** Options of an HTTP engine with voices: Coqui, Piper's HTTP server. */
export interface HttpEngineOptions {
  name: string;
  /** Base URL, e.g. `http://127.0.0.1:5000`. */
  url: string;
  /** Default voice (Piper: a voice id such as `en_US-lessac-medium`, else the server's default). */
  voice?: string;
  /** Default speaker (name, or id as digits) for multi-speaker voices or models. */
  speaker?: string;
  /** Default language (Coqui: `language_id` of multilingual models; Piper: picks a voice). */
  language?: string;
  log: Log;
}

/** Timeout for small requests (voices, health) when the caller gives none, in ms. */
export const HTTP_SMALL_TIMEOUT_MS = 5000;
const ERROR_BODY_CHARS = 300;

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    e = e.cause;
  }
  return undefined;
}

/** Joins a base URL and a path without doubling or losing slashes (`http://h:1/` + `/voices`). */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/**
 * Sends a request and returns the response once its status line and headers are in.
 * @throws AppError ENGINE_UNAVAILABLE (cannot connect), ENGINE_FAILED (status ≥ 400, with the status and
 *   the start of the body), or the abort error.
 */
export async function httpRequest(
  engine: string,
  url: string,
  init: RequestInit,
  signal: AbortSignal,
): Promise<Response> {
  if (signal.aborted) throw abortError(engine, signal);
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal });
  } catch (err) {
    if (signal.aborted) throw abortError(engine, signal);
    const code = causeCode(err);
    throw new AppError(
      'ENGINE_UNAVAILABLE',
      `engine '${engine}' is unreachable at ${url} (${code ?? errorMessage(err)}); is it running?`,
      { cause: err, details: { engine, url, code } },
    );
  }
  if (response.status >= 400) {
    const body = await response.text().catch(() => '');
    const detail = body.replace(/\s+/g, ' ').trim().slice(0, ERROR_BODY_CHARS);
    throw new AppError(
      'ENGINE_FAILED',
      `engine '${engine}' answered HTTP ${response.status} for ${url}: ${detail || response.statusText}`,
      { details: { engine, url, status: response.status } },
    );
  }
  return response;
}

/**
 * Yields a response body as it arrives. Ending the iteration early cancels the body (closes the connection).
 * @throws AppError ENGINE_FAILED when the connection drops before the body is complete; the abort error.
 */
export async function* responseBytes(
  engine: string,
  response: Response,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  if (!response.body) return;
  const reader = response.body.getReader();
  let finished = false;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (err) {
        if (signal.aborted) throw abortError(engine, signal);
        const code = causeCode(err);
        throw new AppError(
          'ENGINE_FAILED',
          `engine '${engine}' dropped the connection mid-stream (${code ?? errorMessage(err)})`,
          { cause: err, details: { engine, code } },
        );
      }
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

/** `signal` combined with a timeout of `timeoutMs`, for small requests. */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs = HTTP_SMALL_TIMEOUT_MS): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/**
 * GETs JSON and validates it with `schema`.
 * @throws AppError ENGINE_BAD_RESPONSE when the body is not JSON of that shape; as `httpRequest` otherwise.
 */
export async function getJson<T>(
  engine: string,
  url: string,
  schema: z.ZodType<T>,
  signal: AbortSignal,
): Promise<T> {
  const response = await httpRequest(engine, url, { method: 'GET' }, signal);
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    if (signal.aborted) throw abortError(engine, signal);
    throw new AppError('ENGINE_FAILED', `engine '${engine}' dropped the connection reading ${url}`, {
      cause: err,
    });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new AppError(
      'ENGINE_BAD_RESPONSE',
      `engine '${engine}' sent no JSON from ${url}: ${JSON.stringify(text.slice(0, 80))}`,
      { cause: err, details: { engine, url } },
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new AppError('ENGINE_BAD_RESPONSE', `engine '${engine}' sent unexpected JSON from ${url}`, {
      cause: parsed.error,
      details: { engine, url },
    });
  }
  return parsed.data;
}

/**
 * Checks that a server answers at all: any HTTP status below 500 counts (a 404 still proves it is up).
 * @throws AppError ENGINE_UNAVAILABLE (cannot connect), ENGINE_FAILED (status ≥ 500), or the abort error.
 */
export async function httpReachable(engine: string, url: string, signal: AbortSignal): Promise<void> {
  try {
    const response = await httpRequest(engine, url, { method: 'GET' }, signal);
    await response.body?.cancel();
  } catch (err) {
    const status = err instanceof AppError ? err.details?.status : undefined;
    if (typeof status === 'number' && status < 500) return;
    throw err;
  }
}
