/**
 * The chimes area assembled from the options: the library (built-in chimes and `<share>/chimes`), with the
 * chimes the options name (targets' presets, schedules) decoded at start.
 */
import { join } from 'node:path';
import type { Options } from '../config/schema.js';
import { DEFAULT_MIX_FORMAT } from '../say/chimes.js';
import type { Log } from '../shared/log.js';
import { type Service, service } from '../shared/service.js';
import { type ChimeLibrary, createChimeLibrary, NO_CHIME } from './library.js';

/** Chimes the options name (targets' presets, schedules), to decode at start. */
export function namedChimes(options: Options): string[] {
  const names = [
    ...options.targets.flatMap((t) => [t.chime, t.chime_after]),
    ...options.schedules.flatMap((s) => [s.chime, s.chime_after]),
  ];
  return names.filter((n): n is string => n !== undefined && n !== '' && n !== NO_CHIME);
}

/** Builds the chime library; its service decodes the named chimes at start. */
export function buildChimes(
  options: Options,
  deps: { log: Log },
): { library: ChimeLibrary; service: Service } {
  const library = createChimeLibrary({
    userDir: join(options.share_dir, 'chimes'),
    maxDurationMs: options.chimes.max_duration_s * 1000,
    log: deps.log.child({ mod: 'chimes' }),
  });
  return {
    library,
    service: service('chimes', {
      start: () => library.start({ names: namedChimes(options), format: DEFAULT_MIX_FORMAT }),
      stop: () => library.stop(),
    }),
  };
}
