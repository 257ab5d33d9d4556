/**
 * The ffmpeg argument builders (src/audio/ffmpeg-args.ts): the one place for PCM input, Opus for speech and for
 * recordings, the other outputs, and decoding to PCM.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeToPcmArgs,
  encoderArgs,
  gainArgs,
  OGG_PAGE_DURATION_US,
  outputArgs,
  pcmInputArgs,
  RECORDING_PAGE_DURATION_US,
  recordingEncoderArgs,
  recordingFileEncoderArgs,
  remuxArgs,
} from '../../src/audio/ffmpeg-args.js';
import { MIC_FORMAT, SPEECH_PCM_FORMAT } from '../../src/audio/format.js';
import { streamOutputArgs, wavToStreamArgs } from '../../src/audio/stream-formats.js';

/** The value that follows `flag` in `args`. */
function argAfter(args: string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at < 0 ? undefined : args[at + 1];
}

describe('ffmpeg input arguments', () => {
  it('reads raw PCM in the given format from stdin without probing', () => {
    expect(pcmInputArgs(SPEECH_PCM_FORMAT)).toEqual([
      ...['-probesize', '32', '-analyzeduration', '0'],
      ...['-f', 's16le', '-ar', '22050', '-ac', '1', '-i', 'pipe:0'],
    ]);
    expect(argAfter(pcmInputArgs({ rateHz: 8000, widthBytes: 1, channels: 2 }), '-f')).toBe('u8');
  });

  it('adds a volume filter only for a finite non-zero gain', () => {
    expect(gainArgs(undefined)).toEqual([]);
    expect(gainArgs(0)).toEqual([]);
    expect(gainArgs(Number.NaN)).toEqual([]);
    expect(gainArgs(-6)).toEqual(['-af', 'volume=-6dB']);
  });
});

describe('Opus for speech and for recordings', () => {
  const speech = outputArgs({ format: 'opus', bitrateKbps: 32 }, true);
  const recording = recordingEncoderArgs(MIC_FORMAT, 24, '/tmp/x.partial.opus');

  it('share codec, application and frame length', () => {
    for (const args of [speech, recording]) {
      expect(argAfter(args, '-c:a')).toBe('libopus');
      expect(argAfter(args, '-application')).toBe('audio');
      expect(argAfter(args, '-frame_duration')).toBe('20');
      expect(argAfter(args, '-flush_packets')).toBe('1');
      expect(argAfter(args, '-f')).not.toBeUndefined();
    }
    expect(argAfter(speech, '-b:a')).toBe('32k');
    expect(argAfter(recording, '-b:a')).toBe('24k');
  });

  it('differ in page length and rate, each for its named reason', () => {
    expect(Number(argAfter(speech, '-page_duration'))).toBe(OGG_PAGE_DURATION_US);
    expect(Number(argAfter(recording, '-page_duration'))).toBe(RECORDING_PAGE_DURATION_US);
    expect(argAfter(speech, '-ar')).toBe('48000');
    // The recording's only -ar is its 16 kHz input.
    expect(recording.filter((a) => a === '-ar')).toHaveLength(1);
    expect(argAfter(recording, '-ar')).toBe('16000');
    expect(recording.slice(-3)).toEqual(['ogg', '-y', '/tmp/x.partial.opus']);
  });

  it('a stored (not live) speech file has ffmpeg pages, unflushed', () => {
    const stored = outputArgs({ format: 'opus', bitrateKbps: 32 }, false);
    expect(stored).not.toContain('-page_duration');
    expect(stored).not.toContain('-flush_packets');
  });

  it('the OpenAI route streams the same speech Opus', () => {
    const openai = streamOutputArgs('opus', 32);
    expect(openai).toEqual(speech);
  });
});

describe('other outputs', () => {
  it('live MP3 goes without a Xing header; a file keeps it', () => {
    expect(argAfter(outputArgs({ format: 'mp3', bitrateKbps: 64 }, true), '-write_xing')).toBe('0');
    expect(outputArgs({ format: 'mp3', bitrateKbps: 64 }, false)).not.toContain('-write_xing');
  });

  it('live WAV is raw s16le (our header goes in front); a WAV file is ffmpeg’s', () => {
    expect(argAfter(outputArgs({ format: 'wav', bitrateKbps: 0 }, true), '-f')).toBe('s16le');
    expect(argAfter(outputArgs({ format: 'wav', bitrateKbps: 0 }, false), '-f')).toBe('wav');
  });

  it('OpenAI pcm is 24 kHz mono s16le; aac is ADTS; flac is flac', () => {
    const pcm = streamOutputArgs('pcm', 32);
    expect([argAfter(pcm, '-ar'), argAfter(pcm, '-ac'), argAfter(pcm, '-f')]).toEqual([
      '24000',
      '1',
      's16le',
    ]);
    expect(argAfter(streamOutputArgs('aac', 32), '-f')).toBe('adts');
    expect(argAfter(streamOutputArgs('aac', 16), '-b:a')).toBe('64k');
    expect(argAfter(streamOutputArgs('flac', 32), '-f')).toBe('flac');
  });

  it('the OpenAI route reads a streamed WAV and adds atempo for speed', () => {
    const args = wavToStreamArgs('mp3', 2.5, 32);
    expect(args.slice(0, 8)).toEqual([
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-f',
      'wav',
      '-i',
      'pipe:0',
    ]);
    expect(argAfter(args, '-filter:a')).toBe('atempo=2,atempo=1.25');
    expect(args.at(-1)).toBe('pipe:1');
  });

  it('a live encode is PCM input, gain, output, stdout', () => {
    const args = encoderArgs(SPEECH_PCM_FORMAT, { format: 'mp3', bitrateKbps: 64, gainDb: 3 });
    expect(args.slice(0, pcmInputArgs(SPEECH_PCM_FORMAT).length)).toEqual(pcmInputArgs(SPEECH_PCM_FORMAT));
    expect(argAfter(args, '-af')).toBe('volume=3dB');
    expect(args.at(-1)).toBe('pipe:1');
  });
});

describe('decoding and recovery', () => {
  it('decodes to s16le at the asked format, with optional volume and length cap', () => {
    expect(decodeToPcmArgs(['-i', 'a.ogg'], SPEECH_PCM_FORMAT)).toEqual([
      ...['-i', 'a.ogg', '-vn'],
      ...['-f', 's16le', '-acodec', 'pcm_s16le', '-ar', '22050', '-ac', '1', 'pipe:1'],
    ]);
    const capped = decodeToPcmArgs(['-i', 'pipe:0'], MIC_FORMAT, { volume: 0.5, maxSeconds: 2 });
    expect(argAfter(capped, '-t')).toBe('2.000');
    expect(argAfter(capped, '-af')).toBe('volume=0.5');
    expect(decodeToPcmArgs(['-i', 'a'], MIC_FORMAT, { volume: 1 })).not.toContain('-af');
  });

  it('re-encodes a sidecar with the recording Opus and remuxes a truncated file by copying', () => {
    const file = recordingFileEncoderArgs('/r/x.wav', 24, '/r/x.opus');
    expect(file.slice(0, 2)).toEqual(['-i', '/r/x.wav']);
    expect(Number(argAfter(file, '-page_duration'))).toBe(RECORDING_PAGE_DURATION_US);
    expect(argAfter(remuxArgs('/r/a', '/r/b'), '-c:a')).toBe('copy');
  });
});
