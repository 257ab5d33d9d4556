/**
 * What a user's player would see in an audio file: the real ffprobe's JSON, reduced to the facts tests check.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Codec name (opus, mp3, pcm_s16le), container (format_name: ogg, mp3, wav), duration in ms, rate, channels. */
export interface ProbeResult {
  codec: string;
  container: string;
  durationMs: number;
  sampleRateHz: number;
  channels: number;
}

interface FfprobeJson {
  streams?: {
    codec_type?: string;
    codec_name?: string;
    sample_rate?: string;
    channels?: number;
    duration?: string;
  }[];
  format?: { format_name?: string; duration?: string };
}

/**
 * Probes a file, or a buffer (written to a temp file so ffprobe can seek for the duration).
 * @throws Error when ffprobe fails or finds no audio stream.
 */
export async function ffprobe(fileOrBuffer: string | Buffer): Promise<ProbeResult> {
  if (typeof fileOrBuffer !== 'string') {
    const dir = await mkdtemp(join(tmpdir(), 'ffprobe-'));
    try {
      const file = join(dir, 'audio');
      await writeFile(file, fileOrBuffer);
      return await ffprobe(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', fileOrBuffer],
  ]);
  const json = JSON.parse(stdout) as FfprobeJson;
  const audio = json.streams?.find((s) => s.codec_type === 'audio');
  if (!audio) throw new Error(`ffprobe found no audio stream in ${fileOrBuffer}`);
  const seconds = Number(json.format?.duration ?? audio.duration ?? Number.NaN);
  return {
    codec: audio.codec_name ?? '',
    container: json.format?.format_name ?? '',
    durationMs: seconds * 1000,
    sampleRateHz: Number(audio.sample_rate),
    channels: audio.channels ?? 0,
  };
}
