/** Doctor checks of the programs the hub runs: ffmpeg with its libopus encoder, and espeak-ng. */
import type { EngineOptions } from '../config/schema.js';
import type { Finding } from './report.js';
import { runCommand } from './run-command.js';

/** ffmpeg is found (`FFMPEG_PATH` or `ffmpeg` on PATH) and lists the libopus encoder. */
export async function checkFfmpeg(): Promise<Finding[]> {
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
          status: 'fail',
          message: 'this ffmpeg has no libopus encoder: Opus audio cannot be made',
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
