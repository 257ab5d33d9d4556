/**
 * Doctor checks of the programs the hub runs: ffmpeg with its libopus encoder, the in-process Opus encoder
 * (libopus and the resampler as WebAssembly), and espeak-ng.
 */
import { prepareInProcessOpus } from '../audio/opus-encoder.js';
import type { EngineOptions } from '../config/schema.js';
import type { Finding } from './report.js';
import { runCommand } from './run-command.js';

/**
 * ffmpeg is found (`FFMPEG_PATH` or `ffmpeg` on PATH) and lists the libopus encoder. Without libopus it is a
 * failure when ffmpeg makes the Opus audio (`opus.encoder: ffmpeg`), a warning otherwise (ffmpeg is then the
 * in-process encoder's fallback).
 */
export async function checkFfmpeg(opusEncoder: 'inprocess' | 'ffmpeg' = 'ffmpeg'): Promise<Finding[]> {
  const ffmpeg = process.env.FFMPEG_PATH || 'ffmpeg';
  const version = await runCommand(ffmpeg, ['-hide_banner', '-version']);
  if (!version.ok) {
    return [
      {
        check: 'ffmpeg',
        status: 'fail',
        message: `ffmpeg not found as '${ffmpeg}' (${version.error})`,
        fix: 'install it (apt-get install ffmpeg), or set FFMPEG_PATH to its full path',
      },
    ];
  }
  const first = version.stdout.split('\n')[0] ?? 'ffmpeg';
  const found: Finding = { check: 'ffmpeg', status: 'ok', message: first.replace(/ Copyright.*$/, '') };
  const encoders = await runCommand(ffmpeg, ['-hide_banner', '-encoders']);
  const libopus = encoders.ok && /^\s*A\S*\s+libopus\s/m.test(encoders.stdout);
  return [
    found,
    libopus
      ? {
          check: 'ffmpeg.libopus',
          status: 'ok',
          message: 'the libopus encoder is available (Ogg Opus audio)',
        }
      : {
          check: 'ffmpeg.libopus',
          status: opusEncoder === 'ffmpeg' ? 'fail' : 'warn',
          message:
            opusEncoder === 'ffmpeg'
              ? 'this ffmpeg has no libopus encoder: Opus audio cannot be made'
              : 'this ffmpeg has no libopus encoder: the in-process encoder has no fallback',
          fix: "install an ffmpeg built with libopus (Debian's and Alpine's ffmpeg packages have it)",
        },
  ];
}

/** espeak-ng answers `--version`; a failure only matters when an espeak engine is configured. */
export async function checkEspeak(engines: readonly EngineOptions[]): Promise<Finding[]> {
  const espeak = engines.find((e) => e.type === 'espeak');
  const command = espeak?.command?.split(/\s+/)[0] || 'espeak-ng';
  const version = await runCommand(command, ['--version']);
  if (version.ok) {
    return [{ check: 'espeak-ng', status: 'ok', message: version.stdout.trim().split('\n')[0] ?? command }];
  }
  return [
    {
      check: 'espeak-ng',
      status: espeak ? 'fail' : 'info',
      message: espeak
        ? `espeak-ng not found as '${command}' (${version.error}), but engine '${espeak.name}' uses it`
        : `espeak-ng not found as '${command}'; no engine uses it`,
      ...(espeak
        ? { fix: 'install it (apt-get install espeak-ng), or set the engine command to its path' }
        : {}),
    },
  ];
}

/** With `opus.encoder: inprocess`, the in-process encoder loads (else the hub falls back to ffmpeg). */
export async function checkOpusEncoder(wanted: 'inprocess' | 'ffmpeg'): Promise<Finding[]> {
  if (wanted === 'ffmpeg') {
    return [
      { check: 'opus.encoder', status: 'info', message: 'Ogg Opus is made by ffmpeg (opus.encoder: ffmpeg)' },
    ];
  }
  try {
    const build = await prepareInProcessOpus();
    return [
      {
        check: 'opus.encoder',
        status: 'ok',
        message: `the in-process Opus encoder loads (${String(build)})`,
      },
    ];
  } catch (err) {
    return [
      {
        check: 'opus.encoder',
        status: 'warn',
        message: `the in-process Opus encoder cannot load (${(err as Error).message}); the hub falls back to ffmpeg`,
        fix: 'reinstall the npm packages (npm ci), or set opus.encoder: ffmpeg to say so',
      },
    ];
  }
}
