/**
 * Joins speech with chimes on one PCM timeline, as a stream: `lead_in_ms` of silence, the chime, the speech
 * `offset_ms` after the chime's end (negative: overlapping it, mixed), and the closing chime `offset_ms` after
 * the speech's end (negative: overlapping its last part). Everything that can no longer change is yielded at
 * once, so the lead-in and the chime (all of it, or all but the overlap) go out before the engine has produced
 * anything, and speech follows as it comes. The output is one PCM stream in one format: with a chime, 16-bit
 * mono at the chimes' rate (speech converted to it); with only a lead-in, the speech's own rate and channels.
 */
import { convertPcm } from '../audio/convert.js';
import type { AudioChunk, AudioFormat } from '../audio/format.js';
import { AppError } from '../shared/errors.js';

/** What to put around the speech; chime PCM is 16-bit mono at `format.rateHz`. */
export interface MixPlan {
  /** The chimes' format (16-bit mono); the output format whenever a chime is present. */
  format: AudioFormat;
  /** Silence before everything, in ms (≥ 0). */
  leadInMs: number;
  /** Gap between chime and speech in ms; negative overlaps them (mixed). */
  offsetMs: number;
  /** The opening chime's PCM. */
  before?: Buffer;
  /** The closing chime's PCM. */
  after?: Buffer;
}

/** True when `plan` changes the audio at all. */
export function mixesAnything(plan: MixPlan): boolean {
  return plan.leadInMs > 0 || plan.before !== undefined || plan.after !== undefined;
}

/**
 * A stretch of PCM being assembled: sums of 16-bit samples from absolute frame `start` on, grown as pieces are
 * added, clipped to 16 bits when taken out.
 */
class Timeline {
  private samples = new Int32Array(0);
  /** Absolute frame of samples[0]. */
  start = 0;
  /** Absolute frame after the last one written. */
  end = 0;

  constructor(private readonly channels: number) {}

  /** Mixes interleaved s16le `pcm` in at absolute frame `at` (never before `start`). */
  add(pcm: Buffer, at: number): void {
    const from = Math.max(at, this.start);
    const skip = (from - at) * this.channels;
    const count = Math.floor(pcm.length / 2) - skip;
    if (count <= 0) return;
    const offset = (from - this.start) * this.channels;
    this.reserve(offset + count);
    const s = this.samples;
    for (let i = 0; i < count; i++)
      s[offset + i] = (s[offset + i] as number) + pcm.readInt16LE((skip + i) * 2);
    this.end = Math.max(this.end, from + count / this.channels);
  }

  /** Takes frames [start, upTo) out as s16le (silence where nothing was added). */
  take(upTo: number): Buffer {
    const frames = Math.max(0, upTo - this.start);
    const n = frames * this.channels;
    this.reserve(n);
    const out = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) {
      const v = this.samples[i] as number;
      out.writeInt16LE(Math.min(32767, Math.max(-32768, v)), i * 2);
    }
    this.samples = this.samples.slice(n);
    this.start += frames;
    this.end = Math.max(this.end, this.start);
    return out;
  }

  private reserve(n: number): void {
    if (this.samples.length >= n) return;
    const grown = new Int32Array(Math.max(n, this.samples.length * 2));
    grown.set(this.samples);
    this.samples = grown;
  }
}

/**
 * Yields `speech` with the plan's lead-in, chimes and offsets (see the module comment). The first chunk (lead-in
 * and chime) is yielded before `speech` is first read.
 * @throws AppError ENGINE_FAILED when the speech holds no audio (a chime alone is not a say); the speech's errors.
 */
export async function* mixAround(
  speech: AsyncIterable<AudioChunk>,
  plan: MixPlan,
): AsyncGenerator<AudioChunk> {
  const chimed = plan.before !== undefined || plan.after !== undefined;
  let format: AudioFormat | undefined = chimed ? { ...plan.format, widthBytes: 2, channels: 1 } : undefined;
  let timeline = format ? new Timeline(1) : undefined;
  const frames = (ms: number, f: AudioFormat): number => Math.round((ms * f.rateHz) / 1000);
  let speechStart = 0;
  if (format && timeline) {
    const lead = frames(plan.leadInMs, format);
    const chimeFrames = plan.before ? plan.before.length / 2 : 0;
    if (plan.before) timeline.add(plan.before, lead);
    speechStart = plan.before ? lead + Math.max(0, chimeFrames + frames(plan.offsetMs, format)) : lead;
    if (speechStart > 0) yield { format, pcm: timeline.take(speechStart) };
  }
  let spoken = 0;
  const overlapAfter = plan.after !== undefined && plan.offsetMs < 0;
  for await (const chunk of speech) {
    if (chunk.pcm.length === 0) continue;
    if (!format || !timeline) {
      format = { ...chunk.format, widthBytes: 2 };
      timeline = new Timeline(format.channels);
      speechStart = frames(plan.leadInMs, format);
    }
    const pcm = convertPcm(chunk.pcm, chunk.format, format);
    timeline.add(pcm, speechStart + spoken);
    spoken += pcm.length / 2 / format.channels;
    // With a closing chime that overlaps, the last |offset| of speech waits for it.
    const safe = speechStart + (overlapAfter ? Math.max(0, spoken + frames(plan.offsetMs, format)) : spoken);
    if (safe > timeline.start) yield { format, pcm: timeline.take(safe) };
  }
  if (!format || !timeline || spoken === 0) {
    throw new AppError('ENGINE_FAILED', 'the engine produced no audio for this text');
  }
  if (plan.after) {
    const offset = frames(plan.offsetMs, format);
    const at = speechStart + (offset < 0 ? Math.max(0, spoken + offset) : spoken + offset);
    timeline.add(plan.after, at);
  }
  if (timeline.end > timeline.start) yield { format, pcm: timeline.take(timeline.end) };
}
