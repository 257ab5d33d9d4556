/**
 * Wyoming text-to-speech on top of the client: `describe` → `info`, `synthesize` → audio, and the streaming
 * form (`synthesize-start` / `synthesize-chunk` / `synthesize-stop` → audio per sentence → `synthesize-stopped`).
 *
 * Protocol sources: OHF-Voice/wyoming `wyoming/info.py` (Info, TtsProgram, TtsVoice, TtsVoiceSpeaker),
 * `wyoming/tts.py` (Synthesize, SynthesizeVoice, the streaming events), `wyoming/audio.py` (AudioStart,
 * AudioChunk, AudioStop: `rate`, `width`, `channels`), `wyoming/error.py` (`error {text, code?}`), and how
 * wyoming-piper `handler.py` answers them (one audio-start … audio-stop per `synthesize`; per sentence when
 * streaming). Checked against wyoming 1.10.2 and wyoming-piper 2.5.2.
 */
import { z } from 'zod';
import type { AudioChunk, AudioFormat } from '../audio/format.js';
import { AppError, type ErrorCode, isAppError } from '../shared/errors.js';
import { connectWyoming, type WyomingConnection, type WyomingConnectOptions } from './client.js';
import type { WyomingEvent } from './codec.js';
import type { WyomingPool } from './pool.js';

/** A voice as a Wyoming TTS service describes it. `speakers` is empty for single-speaker voices. */
export interface WyomingTtsVoice {
  name: string;
  languages: string[];
  speakers: string[];
  description?: string;
  installed: boolean;
}

/** One TTS program of a Wyoming service (wyoming-piper has one, `piper`). */
export interface WyomingTtsProgram {
  name: string;
  description?: string;
  version?: string;
  voices: WyomingTtsVoice[];
  /** True when the program accepts `synthesize-start`/`-chunk`/`-stop`. */
  supportsSynthesizeStreaming: boolean;
}

/** The TTS part of a Wyoming `info` event. */
export interface WyomingTtsInfo {
  tts: WyomingTtsProgram[];
}

/** The voice asked of a Wyoming TTS service (`SynthesizeVoice`): `name` wins over `language`; `speaker` goes with `name`. */
export interface WyomingVoiceChoice {
  name?: string;
  language?: string;
  speaker?: string;
}

/** Options of the TTS calls: connection options plus an overall deadline for `describe`. */
export interface WyomingTtsOptions extends Omit<WyomingConnectOptions, 'signal'> {
  /** For `describeTts`: give up after this many ms in total; default 5000. */
  timeoutMs?: number;
}

const optionalText = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);
const voiceSchema = z.object({
  name: z.string(),
  description: optionalText,
  installed: z.boolean().nullish(),
  languages: z.array(z.string()).nullish(),
  speakers: z.array(z.object({ name: z.string() })).nullish(),
});
const programSchema = z.object({
  name: z.string(),
  description: optionalText,
  version: optionalText,
  voices: z.array(voiceSchema).nullish(),
  supports_synthesize_streaming: z.boolean().nullish(),
});
const infoSchema = z.object({ tts: z.array(programSchema).nullish() });

/**
 * Reads the TTS programs out of an `info` event's data (other services' sections are ignored).
 * @throws AppError WYOMING_PROTOCOL when the `tts` section has the wrong shape.
 */
export function parseTtsInfo(data: Record<string, unknown> | undefined): WyomingTtsInfo {
  const parsed = infoSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new AppError(
      'WYOMING_PROTOCOL',
      `Wyoming info is malformed at '${where}': ${issue?.message ?? ''}`,
    );
  }
  return {
    tts: (parsed.data.tts ?? []).map((p) => ({
      name: p.name,
      description: p.description,
      version: p.version,
      supportsSynthesizeStreaming: p.supports_synthesize_streaming ?? false,
      voices: (p.voices ?? []).map((v) => ({
        name: v.name,
        description: v.description,
        installed: v.installed ?? true,
        languages: v.languages ?? [],
        speakers: (v.speakers ?? []).map((s) => s.name),
      })),
    })),
  };
}

/**
 * Asks a Wyoming service to `describe` itself and returns its TTS programs. Opens and closes its own
 * connection; events before `info` are skipped.
 * @throws AppError ENGINE_UNAVAILABLE (cannot connect, or no answer within `timeoutMs`: the deadline is
 *   `AbortSignal.timeout`, whose TimeoutError is turned into ENGINE_UNAVAILABLE), ENGINE_FAILED (closed
 *   without `info`), WYOMING_PROTOCOL (garbage); the abort reason when `signal` aborts.
 */
export async function describeTts(
  url: string,
  signal?: AbortSignal,
  opts: WyomingTtsOptions = {},
): Promise<WyomingTtsInfo> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
  let conn: WyomingConnection | undefined;
  try {
    conn = await connectWyoming(url, { connectTimeoutMs: timeoutMs, ...opts, signal: combined });
    await conn.send({ type: 'describe' });
    for await (const event of conn) {
      if (event.type === 'info') return parseTtsInfo(event.data);
      throwIfError(event, url);
    }
    throw new AppError(
      opts.failedCode ?? 'ENGINE_FAILED',
      `Wyoming service ${url} closed without answering describe`,
    );
  } catch (err) {
    if (deadline.aborted && !signal?.aborted) {
      throw new AppError(
        opts.unreachableCode ?? 'ENGINE_UNAVAILABLE',
        `Wyoming service ${url} did not answer describe within ${timeoutMs} ms`,
        { cause: err, details: { url } },
      );
    }
    throw err;
  } finally {
    conn?.close();
  }
}

/** True for the error of a connection that closed or reset (not an `error` event, not garbage). */
function connectionLost(err: unknown, opts: WyomingConnectOptions): boolean {
  return isAppError(err, opts.failedCode ?? 'ENGINE_FAILED') && !('wyomingCode' in (err.details ?? {}));
}

/** Throws ENGINE_FAILED for a Wyoming `error` event. */
function throwIfError(event: WyomingEvent, url: string): void {
  if (event.type !== 'error') return;
  const text = typeof event.data?.text === 'string' ? event.data.text : 'no message';
  const code = typeof event.data?.code === 'string' ? ` (${event.data.code})` : '';
  throw new AppError('ENGINE_FAILED', `Wyoming service ${url} reported an error${code}: ${text}`, {
    details: { url, wyomingCode: event.data?.code },
  });
}

/** The `voice` field of `synthesize`/`synthesize-start`, as `SynthesizeVoice.to_dict` builds it; undefined when empty. */
export function voiceData(voice: WyomingVoiceChoice | undefined): Record<string, string> | undefined {
  if (voice?.name) return voice.speaker ? { name: voice.name, speaker: voice.speaker } : { name: voice.name };
  if (voice?.language) return { language: voice.language };
  return undefined;
}

function readFormat(data: Record<string, unknown> | undefined): AudioFormat | undefined {
  const { rate, width, channels } = data ?? {};
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
  return ok(rate) && ok(width) && ok(channels) ? { rateHz: rate, widthBytes: width, channels } : undefined;
}

/**
 * Turns `audio-start`/`audio-chunk` events into AudioChunks with whole frames (a partial frame is carried into
 * the next chunk). Returns undefined for events that carry no audio.
 */
class AudioAssembler {
  private format: AudioFormat | undefined;
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly url: string) {}

  take(event: WyomingEvent): AudioChunk | undefined {
    if (event.type === 'audio-start') {
      this.format = readFormat(event.data) ?? this.fail('audio-start without rate/width/channels');
      this.carry = Buffer.alloc(0);
      return undefined;
    }
    if (event.type !== 'audio-chunk' || event.payload === undefined) return undefined;
    const format = readFormat(event.data) ?? this.format ?? this.fail('audio-chunk before audio-start');
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, event.payload]) : event.payload;
    const frameBytes = format.widthBytes * format.channels;
    const whole = bytes.length - (bytes.length % frameBytes);
    this.carry = bytes.subarray(whole);
    return whole > 0 ? { format, pcm: bytes.subarray(0, whole) } : undefined;
  }

  private fail(what: string): never {
    throw new AppError('WYOMING_PROTOCOL', `Wyoming service ${this.url} sent ${what}`);
  }
}

/**
 * Yields the PCM of the audio events on `conn` until an `end` event. @throws AppError ENGINE_FAILED for an
 * `error` event; `failedCode` (default ENGINE_FAILED) when the service closes before `end`;
 * WYOMING_PROTOCOL for audio without a format.
 */
async function* readAudio(
  conn: WyomingConnection,
  url: string,
  end: 'audio-stop' | 'synthesize-stopped',
  failedCode: ErrorCode | undefined,
): AsyncGenerator<AudioChunk, void, undefined> {
  const audio = new AudioAssembler(url);
  for await (const event of conn) {
    throwIfError(event, url);
    if (event.type === end) return;
    const chunk = audio.take(event);
    if (chunk !== undefined) yield chunk;
  }
  throw new AppError(failedCode ?? 'ENGINE_FAILED', `Wyoming service ${url} closed before ${end}`);
}

/**
 * Synthesizes `text` with one `synthesize` event and yields PCM as `audio-chunk` events arrive, ending at
 * `audio-stop`. Never buffers the whole utterance. Aborting `signal` destroys the socket and the iterator
 * throws `signal.reason`; stopping the iteration early closes the connection too.
 * With `pool`, an idle connection of an earlier request is reused and given back after `audio-stop` (see
 * pool.ts for why the protocol allows it); when a reused connection turns out closed by the service before
 * anything arrived, the request is sent once more on a new connection.
 * @throws AppError ENGINE_UNAVAILABLE (cannot connect), ENGINE_FAILED (`error` event, or closed before
 *   `audio-stop`), WYOMING_PROTOCOL (garbage, audio without a format).
 */
export async function* synthesizeTts(
  url: string,
  text: string,
  voice: WyomingVoiceChoice | undefined,
  signal: AbortSignal,
  opts: WyomingConnectOptions & { pool?: WyomingPool } = {},
): AsyncGenerator<AudioChunk, void, undefined> {
  const voiceField = voiceData(voice);
  const request: WyomingEvent = {
    type: 'synthesize',
    data: voiceField ? { text, voice: voiceField } : { text },
  };
  const { pool, ...connectOpts } = opts;
  if (!pool) {
    const conn = await connectWyoming(url, { ...connectOpts, signal });
    try {
      await conn.send(request);
      yield* readAudio(conn, url, 'audio-stop', opts.failedCode);
    } finally {
      conn.close();
    }
    return;
  }
  for (let attempt = 0; ; attempt++) {
    const pooled = await pool.acquire(signal, connectOpts);
    let received = false;
    let complete = false;
    try {
      await pooled.conn.send(request);
      for await (const chunk of readAudio(pooled.conn, url, 'audio-stop', opts.failedCode)) {
        received = true;
        yield chunk;
      }
      complete = true;
      pooled.release();
      return;
    } catch (err) {
      // A reused connection the service closed while idle fails before any audio: retry once on a new one.
      if (pooled.reused && !received && attempt === 0 && !signal.aborted && connectionLost(err, opts))
        continue;
      throw err;
    } finally {
      if (!complete) pooled.discard();
    }
  }
}

/**
 * Streaming synthesis for services whose info says `supportsSynthesizeStreaming`: sends `synthesize-start`,
 * one `synthesize-chunk` per piece of `texts` as it comes, then `synthesize-stop`; yields the PCM of every
 * sentence group (`audio-start` … `audio-stop`) as it arrives, ending at `synthesize-stopped`.
 * Errors and abort as in `synthesizeTts`; an error thrown by `texts` closes the connection and is rethrown.
 */
export async function* synthesizeTtsStreaming(
  url: string,
  texts: AsyncIterable<string> | Iterable<string>,
  voice: WyomingVoiceChoice | undefined,
  signal: AbortSignal,
  opts: WyomingConnectOptions = {},
): AsyncGenerator<AudioChunk, void, undefined> {
  const conn = await connectWyoming(url, { ...opts, signal });
  // Only a failure of `texts` itself is reported from the writer; a failed send means the connection broke,
  // which the reader reports better (an `error` event, a reset, the abort reason).
  let textsError: unknown;
  let sending = false;
  const send = async (event: WyomingEvent): Promise<void> => {
    sending = true;
    await conn.send(event);
    sending = false;
  };
  void (async (): Promise<void> => {
    const voiceField = voiceData(voice);
    await send({ type: 'synthesize-start', data: voiceField ? { voice: voiceField } : {} });
    for await (const text of texts) {
      if (text.length > 0) await send({ type: 'synthesize-chunk', data: { text } });
    }
    await send({ type: 'synthesize-stop' });
  })().catch((err: unknown) => {
    if (sending) return;
    textsError = err;
    conn.close(err instanceof Error ? err : new Error(String(err)));
  });
  try {
    yield* readAudio(conn, url, 'synthesize-stopped', opts.failedCode);
  } catch (err) {
    throw textsError ?? err;
  } finally {
    // The writer is not awaited: it may be waiting on `texts`; closing makes its next send fail quietly.
    conn.close();
  }
}
