/**
 * The one place for ffmpeg argument lists: raw PCM or streamed WAV on stdin, Ogg Opus for speech and for
 * recordings, MP3/AAC/FLAC/WAV/raw PCM outputs, and decoding any audio back to raw PCM. Everything that starts
 * ffmpeg (say path, transcodes, the OpenAI route, recorder, playback and chime decoders) builds its arguments
 * here, so a choice (frame length, page length, bitrate) is made once. Options are ffmpeg's (ffmpeg-formats and
 * ffmpeg-codecs docs: `libopus`, `ogg` muxer `-page_duration` in µs, `mp3` muxer `-write_xing`).
 */
import { type AudioFormat, ffmpegPcmFormat, type OutputFormat } from './format.js';

/**
 * Ogg page length of speech Opus, in µs. A listener gets audio only when a page is complete, so this bounds the
 * time to first audio: 40 ms pages measured 1.0–1.1× Piper's first-sentence time in `npm run bench -- ttfa`,
 * 100 ms pages 1.2–1.3×. The price is about 10 % more bytes at 32 kbit/s (a ~29-byte page header per 2 frames
 * of ~80 bytes, instead of per 5).
 */
export const OGG_PAGE_DURATION_US = 40_000;

/**
 * Ogg page length of a recording's live file, in µs (ffmpeg's default is 1 s). Longer than speech's on purpose:
 * nobody waits on a recording's first audio, only a reader of the `.partial.opus` file mid-way, and 100 ms pages
 * cost fewer header bytes over hours of microphone audio.
 */
export const RECORDING_PAGE_DURATION_US = 100_000;

/** Opus always decodes at 48 kHz; speech is encoded at that rate, which keeps granule positions simple. */
export const OPUS_RATE_HZ = 48_000;

/**
 * Stops ffmpeg from reading ~5 s of input to "find stream info" before it writes a single byte: input that
 * describes itself (raw PCM options, a WAV header) needs no probing.
 */
const NO_PROBING = ['-probesize', '32', '-analyzeduration', '0'];

/** Input arguments: raw PCM in `format` on stdin. */
export function pcmInputArgs(format: AudioFormat): string[] {
  return [
    ...NO_PROBING,
    ...['-f', ffmpegPcmFormat(format), '-ar', String(format.rateHz), '-ac', String(format.channels)],
    ...['-i', 'pipe:0'],
  ];
}

/** Input arguments: a streamed WAV (our header with an unknown length, then PCM) on stdin. */
export function wavPipeInputArgs(): string[] {
  return [...NO_PROBING, '-f', 'wav', '-i', 'pipe:0'];
}

/** The `volume` filter for a gain in dB; nothing for 0, undefined or a non-finite gain. */
export function gainArgs(gainDb: number | undefined): string[] {
  return gainDb && Number.isFinite(gainDb) ? ['-af', `volume=${gainDb}dB`] : [];
}

/** What an Ogg Opus output is made with (see {@link opusOutputArgs}). */
export interface OpusOutputOptions {
  bitrateKbps: number;
  /** Ogg page length in µs with packets flushed at once (a live output); undefined: ffmpeg's 1 s pages. */
  pageDurationUs?: number;
  /**
   * Resample to OPUS_RATE_HZ (speech). A recording keeps the microphone's rate as the Ogg header's input
   * rate (libopus codes 8/12/16/24/48 kHz natively, so nothing is resampled there).
   */
  resample: boolean;
  /** Drop the input's metadata (speech: a cached file must not depend on the engine's WAV tags). */
  stripMetadata: boolean;
}

/**
 * Ogg Opus output: libopus, application `audio` (ffmpeg's default, named here; see opus-encoder.ts for why not
 * `voip`), 20 ms frames, then the options of `o`.
 */
export function opusOutputArgs(o: OpusOutputOptions): string[] {
  return [
    ...['-c:a', 'libopus', '-b:a', `${o.bitrateKbps}k`, '-application', 'audio', '-frame_duration', '20'],
    ...(o.resample ? ['-ar', String(OPUS_RATE_HZ)] : []),
    ...(o.stripMetadata ? ['-map_metadata', '-1'] : []),
    ...(o.pageDurationUs !== undefined
      ? ['-flush_packets', '1', '-page_duration', String(o.pageDurationUs)]
      : []),
    ...['-f', 'ogg'],
  ];
}

/** Speech Opus: 48 kHz, no metadata, and on a live output flushed pages of OGG_PAGE_DURATION_US. */
export function speechOpusArgs(bitrateKbps: number, live: boolean): string[] {
  return opusOutputArgs({
    bitrateKbps,
    resample: true,
    stripMetadata: true,
    ...(live ? { pageDurationUs: OGG_PAGE_DURATION_US } : {}),
  });
}

/** Recording Opus: the microphone's rate, flushed pages of RECORDING_PAGE_DURATION_US. */
export function recordingOpusArgs(bitrateKbps: number): string[] {
  return opusOutputArgs({
    bitrateKbps,
    resample: false,
    stripMetadata: false,
    pageDurationUs: RECORDING_PAGE_DURATION_US,
  });
}

/** MP3 output; a live one (a pipe cannot be seeked back to patch a Xing header) goes without that header. */
export function mp3OutputArgs(bitrateKbps: number, live: boolean): string[] {
  return [
    ...['-c:a', 'libmp3lame', '-b:a', `${bitrateKbps}k`, '-map_metadata', '-1'],
    ...(live ? ['-write_xing', '0', '-flush_packets', '1'] : []),
    ...['-f', 'mp3'],
  ];
}

/**
 * AAC in ADTS frames (a container a pipe can carry), flushed at once. ffmpeg's own AAC encoder with its `fast`
 * coder: the default `twoloop` search (ffmpeg 5.1, Debian 12) took 35–110 ms to its first frame and ~7× the CPU
 * for a 4 s espeak-ng sentence written at once, `fast` 10 ms; for speech at 64 kbit/s the difference in quality
 * is not one a listener hears.
 */
export function aacOutputArgs(bitrateKbps: number): string[] {
  return [
    '-c:a',
    'aac',
    '-aac_coder',
    'fast',
    '-b:a',
    `${bitrateKbps}k`,
    '-flush_packets',
    '1',
    '-f',
    'adts',
  ];
}

/** FLAC with an unknown total length (a pipe), flushed at once. */
export function flacOutputArgs(): string[] {
  return ['-c:a', 'flac', '-flush_packets', '1', '-f', 'flac'];
}

/** WAV file output (seekable: ffmpeg writes exact sizes). */
export function wavFileOutputArgs(): string[] {
  return ['-c:a', 'pcm_s16le', '-map_metadata', '-1', '-f', 'wav'];
}

/**
 * Raw s16le output (a live WAV's data behind our own header, or OpenAI's `pcm`), at `format`'s rate and
 * channels when given, else the input's; `flush` writes packets at once.
 */
export function rawPcmOutputArgs(
  opts: { rateHz?: number; channels?: number; flush?: boolean } = {},
): string[] {
  return [
    ...['-c:a', 'pcm_s16le'],
    ...(opts.rateHz !== undefined ? ['-ar', String(opts.rateHz)] : []),
    ...(opts.channels !== undefined ? ['-ac', String(opts.channels)] : []),
    ...(opts.flush ? ['-flush_packets', '1'] : []),
    ...['-f', 's16le'],
  ];
}

/**
 * Decoding any audio (`input`: `['-i', path]` or `['-i', 'pipe:0']`) to s16le PCM in `format` on stdout, video
 * dropped, scaled by `volume` (linear, 1 = as is), stopping after `maxSeconds` of output when given.
 */
export function decodeToPcmArgs(
  input: string[],
  format: AudioFormat,
  opts: { volume?: number; maxSeconds?: number } = {},
): string[] {
  return [
    ...[...input, '-vn'],
    ...(opts.maxSeconds !== undefined ? ['-t', opts.maxSeconds.toFixed(3)] : []),
    ...(opts.volume !== undefined && opts.volume !== 1 ? ['-af', `volume=${opts.volume}`] : []),
    ...['-f', 's16le', '-acodec', 'pcm_s16le', '-ar', String(format.rateHz), '-ac', String(format.channels)],
    'pipe:1',
  ];
}

/** What a speech output is encoded to: format, bitrate in kbit/s (Opus and MP3), gain in dB. */
export interface SpeechOutput {
  format: OutputFormat;
  bitrateKbps: number;
  gainDb?: number;
}

/**
 * Codec and muxer arguments of a speech output format; `live` picks stream-friendly muxer options (a live WAV
 * is raw PCM behind our own header: ffmpeg's would declare a size it cannot patch on a pipe).
 */
export function outputArgs(settings: SpeechOutput, live: boolean): string[] {
  switch (settings.format) {
    case 'opus':
      return speechOpusArgs(settings.bitrateKbps, live);
    case 'mp3':
      return mp3OutputArgs(settings.bitrateKbps, live);
    case 'wav':
      return live ? ['-c:a', 'pcm_s16le', '-map_metadata', '-1', '-f', 's16le'] : wavFileOutputArgs();
  }
}

/** ffmpeg arguments that read raw PCM in `input` from stdin and write `settings.format` (live) to stdout. */
export function encoderArgs(input: AudioFormat, settings: SpeechOutput): string[] {
  return [...pcmInputArgs(input), ...gainArgs(settings.gainDb), ...outputArgs(settings, true), 'pipe:1'];
}

/** ffmpeg arguments that encode raw PCM in `format` from stdin to a recording's Ogg Opus file at `outPath`. */
export function recordingEncoderArgs(format: AudioFormat, bitrateKbps: number, outPath: string): string[] {
  return [...pcmInputArgs(format), ...recordingOpusArgs(bitrateKbps), '-y', outPath];
}

/** ffmpeg arguments that encode a finished WAV file (a recording's sidecar) to a recording's Ogg Opus at `outPath`. */
export function recordingFileEncoderArgs(inPath: string, bitrateKbps: number, outPath: string): string[] {
  return ['-i', inPath, ...recordingOpusArgs(bitrateKbps), '-y', outPath];
}

/** ffmpeg arguments that keep the decodable part of a truncated Ogg Opus file, copying packets unchanged. */
export function remuxArgs(inPath: string, outPath: string): string[] {
  return ['-err_detect', 'ignore_err', '-i', inPath, '-c:a', 'copy', '-f', 'ogg', '-y', outPath];
}
