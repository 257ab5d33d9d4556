/**
 * Shared pieces of the recorder tests and benchmark: recorder options with test defaults, a sine tone and
 * speech as raw PCM, and the live ffmpeg encoders of a process (to kill them with it and prove nothing is lost).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { RecorderOptions } from '../../src/recorder/recorder.js';
import { silentLog } from '../../src/shared/log.js';
import { speechPcmWhole } from '../servers/speech.js';

const run = promisify(execFile);

/**
 * Options for `createRecorder` on `shareDir`: 24 kbit/s, no WAV kept, no retention, a silent log, the id as
 * its URL and no status listener, each overridable by `extra`.
 */
export function recorderOptions(shareDir: string, extra: Partial<RecorderOptions> = {}): RecorderOptions {
  return {
    shareDir,
    bitrateKbps: 24,
    keepWav: false,
    retentionDays: 0,
    maxTotalMb: 0,
    publicUrl: (id) => id,
    log: silentLog(),
    onStatus: () => {},
    ...extra,
  };
}

/** `seconds` of a 440 Hz sine at 16 kHz s16le mono, from ffmpeg's lavfi source. */
export async function sinePcm(seconds: number): Promise<Buffer> {
  const { stdout } = await run(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi'],
      ...['-i', `sine=frequency=440:sample_rate=16000:duration=${seconds}`],
      ...['-f', 's16le', '-'],
    ],
    { encoding: 'buffer', maxBuffer: 1 << 24 },
  );
  return stdout;
}

/** Process ids of the ffmpeg children of `parentPid` (from /proc/<pid>/stat: name, then state, then ppid). */
export async function ffmpegChildren(parentPid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (stat.includes('(ffmpeg)') && Number(fields[1]) === parentPid) pids.push(Number(entry));
  }
  return pids;
}

/** Exactly `seconds` of `text` spoken by espeak-ng at 16 kHz s16le mono, the speech repeated to fill it. */
export async function repeatedSpeechPcm(text: string, seconds: number): Promise<Buffer> {
  const once16k = await speechPcmWhole(text, 16000);
  const total = seconds * 32_000;
  const copies = Math.ceil(total / once16k.length);
  return Buffer.concat(Array.from({ length: copies }, () => once16k)).subarray(0, total);
}
