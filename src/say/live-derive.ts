/**
 * The same speech in another format while it is still being spoken: a player that needs MP3 (or WAV) gets a
 * URL that streams at once, as the say's own format does, instead of waiting for the whole file to be
 * transcoded. The live job's PCM (what its encoder got, gain applied) goes into a second live encoder whose
 * bytes feed a second live job (its own URL, its own listeners) and become that format's cache entry, so a
 * later request for it is a plain hit. When the PCM is not there (the audio was replayed from a cached file)
 * or a fallback engine spoke (the first engine's key would hold another engine's audio), the finished file
 * is derived the usual way instead.
 */
import type { OpusEncoderKind } from '../audio/encoder.js';
import type { OutputFormat } from '../audio/format.js';
import { openAudio } from '../audio/source.js';
import type { CacheStore } from '../cache/store.js';
import { AppError, timeoutSignal, toAppError } from '../shared/errors.js';
import { finalAudio, liveAudio, type SayAudio, type SayAudioDeps } from './audio.js';
import type { LiveJob, LiveRegistry } from './live-audio.js';
import { type EncoderPool, startLiveEncoder } from './live-encoder.js';

/** Longest a live derivation may run, in ms (it ends with its source; this only bounds a stuck one). */
const LIVE_DERIVE_TIMEOUT_MS = 10 * 60_000;

/** The time limit of a live derivation to `format`: FFMPEG_FAILED (not an engine's timeout) when it fires. */
function liveDeriveLimit(format: OutputFormat): AbortSignal {
  return timeoutSignal(
    LIVE_DERIVE_TIMEOUT_MS,
    () =>
      new AppError(
        'FFMPEG_FAILED',
        `the live derivation to ${format} took longer than ${LIVE_DERIVE_TIMEOUT_MS / 1000} s`,
      ),
  );
}

/** What a live derivation needs. */
export interface LiveDeriveDeps {
  registry: LiveRegistry;
  cache: CacheStore;
  audioDeps: SayAudioDeps;
  bitrateKbps: number;
  /** Ogg Opus encoder and libopus complexity (`opus.encoder`, `opus.complexity`). */
  opus: { encoder: OpusEncoderKind; complexity: number };
  pool: EncoderPool;
}

/**
 * The audio of `source` (a running live job whose final audio `final` settles when it ends) in `format`,
 * under `keyFor(format)`: an identical derivation already running, the cached entry, or a new live
 * derivation (see the module comment). Returns at once; the audio's URL streams live.
 */
export function deriveLive(
  deps: LiveDeriveDeps,
  source: LiveJob,
  final: Promise<SayAudio>,
  keyFor: (format: OutputFormat) => string,
  format: OutputFormat,
): SayAudio {
  const key = keyFor(format);
  const cached = deps.cache.get(key, format);
  if (cached) return finalAudio(deps.audioDeps, cached, keyFor);
  const { job, created } = deps.registry.createDerived(key, format);
  const done = created ? run(deps, source, job, final, keyFor) : waitFor(job, final, format);
  done.catch(() => {});
  return liveAudio(deps.audioDeps, key, format, done);
}

/** The final audio of an identical derivation already running: the cache entry once its job has ended. */
async function waitFor(job: LiveJob, final: Promise<SayAudio>, format: OutputFormat): Promise<SayAudio> {
  for await (const _ of job.subscribe()) {
    // Only its end matters.
  }
  return (await final).as(format, liveDeriveLimit(format));
}

async function run(
  deps: LiveDeriveDeps,
  source: LiveJob,
  job: LiveJob,
  final: Promise<SayAudio>,
  keyFor: (format: OutputFormat) => string,
): Promise<SayAudio> {
  const format = job.format;
  const signal = liveDeriveLimit(format);
  const writer = deps.cache.beginWrite(job.key, format);
  const encoder = startLiveEncoder({
    settings: { format, bitrateKbps: deps.bitrateKbps, ...deps.opus },
    guess: source.pcmFormat,
    signal,
    pool: deps.pool,
  });
  try {
    let bytes = 0;
    try {
      for await (const buf of encoder.encode(source.subscribePcm())) {
        bytes += buf.length;
        job.push(buf);
        await writer.write(buf);
      }
    } catch (err) {
      // No PCM at all: the source replayed a cached file; anything else is a real failure.
      if (!(bytes === 0 && source.state === 'ended' && source.pcmBytes === 0)) throw err;
    }
    const src = await final;
    const meta = deps.cache.get(src.key, src.format)?.meta;
    if (bytes > 0 && meta && src.key === source.key) {
      const entry = await writer.commit({
        text: meta.text,
        engine: meta.engine,
        voice: meta.voice,
        durationMs: Math.round(encoder.inputDurationMs),
      });
      if (entry) {
        job.end();
        return finalAudio(deps.audioDeps, entry, keyFor);
      }
    }
    // A fallback engine spoke, or there was no PCM: the final file in this format, derived the usual way.
    await writer.abort();
    const derived = await src.as(format, signal);
    if (bytes === 0) {
      for await (const buf of openAudio(derived)) job.push(buf as Buffer);
    }
    deps.registry.alias(job.key, derived.key, format);
    job.end();
    return derived;
  } catch (err) {
    await writer.abort().catch(() => {});
    const e = toAppError(err);
    job.fail(e);
    throw e;
  } finally {
    encoder.close();
    deps.registry.remove(job);
  }
}
