/** Measuring audio files with ffmpeg: EBU R128 integrated loudness (the ebur128 filter) and a full decode. */
import { spawn } from 'node:child_process';

function runFfmpeg(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-nostats', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Integrated loudness of an audio file in LUFS, as ffmpeg's ebur128 filter reports it. */
export async function loudnessLufs(file: string): Promise<number> {
  const { stderr } = await runFfmpeg(['-i', file, '-af', 'ebur128', '-f', 'null', '-']);
  const m = /Integrated loudness:\s+I:\s+(-?[\d.]+) LUFS/.exec(stderr);
  if (!m) throw new Error(`no loudness for ${file}: ${stderr.slice(-400)}`);
  return Number(m[1]);
}

/** True when ffmpeg decodes the whole file without a single error message. */
export async function decodesCleanly(file: string): Promise<boolean> {
  const { code, stderr } = await runFfmpeg(['-v', 'error', '-i', file, '-f', 'null', '-']);
  return code === 0 && stderr.trim() === '';
}
