/**
 * Streamed answers in the six formats the OpenAI speech API documents (OpenAI API reference, "Create speech":
 * `response_format` mp3 | opus | aac | flac | wav | pcm; pcm is raw 24 kHz 16-bit signed little-endian mono;
 * `speed` 0.25–4), made by piping PCM through one ffmpeg whose output is read as it is written, and the
 * `atempo` chain for `speed`. Every container here is one a pipe can carry: MP3 without a Xing header, AAC in
 * ADTS frames, FLAC with an unknown total length, Ogg Opus in short pages, WAV behind our own header.
 */
import { AppError } from '../shared/errors.js';
import { type FfmpegProcess, pipeThroughFfmpeg, runFfmpeg } from './ffmpeg.js';
import {
  aacOutputArgs,
  flacOutputArgs,
  mp3OutputArgs,
  rawPcmOutputArgs,
  speechOpusArgs,
  wavPipeInputArgs,
} from './ffmpeg-args.js';
import { OPENAI_PCM_RATE_HZ } from './format.js';

/** The formats of `/v1/audio/speech`, in the API's order. */
export const STREAM_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
/** One of STREAM_FORMATS. */
export type StreamFormat = (typeof STREAM_FORMATS)[number];

/** HTTP content type of each streamed format. */
export const STREAM_CONTENT_TYPES: Record<StreamFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: `audio/pcm; rate=${OPENAI_PCM_RATE_HZ}; channels=1; encoding=s16le`,
};

/** True for a known format name. */
export function isStreamFormat(name: string): name is StreamFormat {
  return (STREAM_FORMATS as readonly string[]).includes(name);
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

/**
 * ffmpeg output arguments of a streamed `format` at `bitrateKbps` (the Opus bitrate; MP3 and AAC get twice
 * that, at least 64 kbit/s). `wav` is raw s16le here: the caller writes the header (a pipe cannot be patched).
 * Opus is the speech Opus of ffmpeg-args.ts.
 */
export function streamOutputArgs(format: StreamFormat, bitrateKbps: number): string[] {
  const lossyKbps = Math.max(bitrateKbps * 2, 64);
  switch (format) {
    case 'pcm':
      return rawPcmOutputArgs({ rateHz: OPENAI_PCM_RATE_HZ, channels: 1, flush: true });
    case 'wav':
      return rawPcmOutputArgs({ flush: true });
    case 'mp3':
      return mp3OutputArgs(lossyKbps, true);
    case 'aac':
      return aacOutputArgs(lossyKbps);
    case 'flac':
      return flacOutputArgs();
    case 'opus':
      return speechOpusArgs(bitrateKbps, true);
  }
}

/**
 * The ffmpeg arguments that read a streamed WAV (our header with an unknown length, then PCM) on stdin and
 * write `format` at `speed` on stdout. WAV input describes itself, so ffmpeg can be started (and pay its
 * start-up) before the first PCM exists.
 */
export function wavToStreamArgs(format: StreamFormat, speed: number, bitrateKbps: number): string[] {
  return [
    ...wavPipeInputArgs(),
    ...(speed === 1 ? [] : ['-filter:a', atempoFilter(speed)]),
    ...['-map_metadata', '-1'],
    ...streamOutputArgs(format, bitrateKbps),
    'pipe:1',
  ];
}

/** An ffmpeg started ahead of its input (its start-up overlaps whatever produces the input). */
export interface FfmpegPipe {
  /**
   * Writes `input` to ffmpeg with back-pressure and yields its output as it is written. Call once. Breaking
   * out of the iteration or aborting the signal kills ffmpeg.
   * @throws an error thrown by `input` as is; the abort reason; AppError FFMPEG_FAILED.
   */
  run(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer>;
  /** Kills ffmpeg unused (when it turned out not to be needed). */
  discard(): void;
}

/**
 * Starts ffmpeg with `args` (input `pipe:0`, output `pipe:1`) now, or takes a running one from `take` (a
 * spare pool: it must give a process for exactly `args`, killed when the signal aborts); see FfmpegPipe.
 */
export function startFfmpegPipe(
  args: string[],
  signal: AbortSignal,
  take: (args: string[], signal: AbortSignal) => FfmpegProcess = runFfmpeg,
): FfmpegPipe {
  const internal = new AbortController();
  const sig = AbortSignal.any([signal, internal.signal]);
  const proc = take(args, sig);
  const run = (input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> =>
    pipeThroughFfmpeg(proc, input, signal, internal);
  return {
    run,
    discard: () => internal.abort(new AppError('ABORTED', 'ffmpeg not needed')),
  };
}
