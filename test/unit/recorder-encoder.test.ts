/**
 * The live recorder encode's ffmpeg arguments (issue 6): no probing delay, packets flushed at once, short Ogg
 * pages, so the `.partial.opus` file decodes while the recording goes on.
 */
import { describe, expect, it } from 'vitest';
import { RECORDING_PAGE_DURATION_US, recordingEncoderArgs } from '../../src/audio/ffmpeg-args.js';
import { MIC_FORMAT } from '../../src/audio/format.js';

/** The value that follows `flag` in `args`. */
function argAfter(args: string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at < 0 ? undefined : args[at + 1];
}

describe('live recorder encoder arguments', () => {
  const args = recordingEncoderArgs(MIC_FORMAT, 24, '/share/recordings/k/2026-01-01/00-00-00_x.partial.opus');

  it('reads s16le 16 kHz mono on stdin without waiting on probing', () => {
    const input = args.slice(0, args.indexOf('-i') + 2);
    expect(argAfter(input, '-probesize')).toBe('32');
    expect(argAfter(input, '-analyzeduration')).toBe('0');
    expect(argAfter(input, '-f')).toBe('s16le');
    expect(argAfter(input, '-ar')).toBe('16000');
    expect(argAfter(input, '-ac')).toBe('1');
    expect(argAfter(input, '-i')).toBe('pipe:0');
  });

  it('writes Opus to the partial file with flushed packets and pages of at most 100 ms', () => {
    expect(argAfter(args, '-c:a')).toBe('libopus');
    expect(argAfter(args, '-b:a')).toBe('24k');
    expect(argAfter(args, '-flush_packets')).toBe('1');
    expect(Number(argAfter(args, '-page_duration'))).toBe(RECORDING_PAGE_DURATION_US);
    expect(RECORDING_PAGE_DURATION_US).toBeLessThanOrEqual(100_000);
    expect(args.at(-1)).toMatch(/\.partial\.opus$/);
  });
});
