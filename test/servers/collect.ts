/**
 * Test-side helpers for engine tests: run a synthesis to the end, capture the AppError of a failure,
 * and measure loudness. Test code only.
 */
import { type AudioChunk, type AudioFormat, pcmDurationMs } from '../../src/audio/format.js';
import { encodeWav } from '../../src/audio/wav.js';
import { type AppError, isAppError } from '../../src/shared/errors.js';
import type { Engine, SynthesisRequest } from '../../src/tts/engine.js';
import { ffprobe, type ProbeResult } from '../helpers/ffprobe.js';

/** The whole output of one synthesis. */
export interface Collected {
  chunks: AudioChunk[];
  pcm: Buffer;
  format: AudioFormat | undefined;
  durationMs: number;
}

/** Runs `engine.synthesize` to the end. Every chunk must have the first chunk's format. */
export async function collect(
  engine: Engine,
  request: SynthesisRequest,
  signal: AbortSignal = new AbortController().signal,
): Promise<Collected> {
  const chunks: AudioChunk[] = [];
  for await (const chunk of engine.synthesize(request, signal)) chunks.push(chunk);
  const format = chunks[0]?.format;
  for (const c of chunks) {
    if (JSON.stringify(c.format) !== JSON.stringify(format)) throw new Error('format changed mid-stream');
  }
  const pcm = Buffer.concat(chunks.map((c) => c.pcm));
  return { chunks, pcm, format, durationMs: format ? pcmDurationMs(pcm.length, format) : 0 };
}

/** The AppError `run` rejects with. @throws Error when it resolves or throws something else. */
export async function failure(run: () => Promise<unknown>): Promise<AppError> {
  try {
    await run();
  } catch (err) {
    if (isAppError(err)) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

/** Root mean square of s16le samples (0..32767). */
export function rms(pcm: Buffer): number {
  let sum = 0;
  const n = Math.floor(pcm.length / 2);
  for (let i = 0; i < n; i++) sum += pcm.readInt16LE(i * 2) ** 2;
  return Math.sqrt(sum / Math.max(1, n));
}

/** What ffprobe sees when the collected PCM is written as a WAV file (proves it decodes). */
export function probeCollected(c: Collected): Promise<ProbeResult> {
  if (!c.format) throw new Error('no audio');
  return ffprobe(encodeWav(c.format, c.pcm));
}
