/**
 * The cron schedules (option `schedules`) as a service of the hub: timers start after MQTT connected and stop
 * first when the hub stops.
 */
import { join } from 'node:path';
import type { Options } from '../config/schema.js';
import { requestDefaults } from '../say/build.js';
import type { SayService } from '../say/service.js';
import type { Log } from '../shared/log.js';
import { type Service, service } from '../shared/service.js';
import { createSchedules } from './schedule-adapter.js';

/** Builds the schedules over the say service; `inGroup`: several hubs run the timers, one fires each time. */
export function buildSchedules(
  options: Options,
  deps: { sayService: SayService; inGroup: boolean; log: Log },
): Service {
  const schedules = createSchedules({
    schedules: options.schedules,
    say: deps.sayService,
    maxTextChars: options.max_text_chars,
    defaults: requestDefaults(options, 'requests'),
    // In a share group every hub runs the timers; a claim file on the share volume lets one hub fire each time.
    ...(deps.inGroup ? { claimDir: join(options.share_dir, '.data', 'schedules') } : {}),
    log: deps.log.child({ mod: 'schedules' }),
  });
  return service('schedules', { start: () => schedules.start(), stop: () => schedules.stop() });
}
