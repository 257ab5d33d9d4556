/**
 * The playback area assembled from the options: targets (Home Assistant players through the Supervisor,
 * Wyoming speakers, Hermes and MQTT satellites, which publish through `publish`) and target groups.
 */
import type { Options } from '../config/schema.js';
import type { Log } from '../shared/log.js';
import { type Service, service } from '../shared/service.js';
import { createPlaybackService, type PlaybackService } from './index.js';
import type { PublishFn } from './sink.js';

/** Builds the playback service; its `stop` ends the per-target queues. */
export function buildPlayback(
  options: Options,
  deps: { supervisorUrl: string; supervisorToken: string | undefined; publish: PublishFn; log: Log },
): { playback: PlaybackService; service: Service } {
  const playback = createPlaybackService({
    targets: options.targets,
    groups: options.groups,
    supervisorUrl: deps.supervisorUrl,
    supervisorToken: deps.supervisorToken,
    allowTcpTargets: options.limits.allow_tcp_targets,
    publish: deps.publish,
    log: deps.log.child({ mod: 'playback' }),
  });
  return { playback, service: service('playback', { stop: () => playback.stop() }) };
}
