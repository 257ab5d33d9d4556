/** The sink factory of each target type. */
import type { SinkFactory } from '../sink.js';
import type { TargetType } from '../targets.js';
import { createAssistSatelliteSink } from './assist-satellite.js';
import { createHermesSink } from './hermes.js';
import { createMediaPlayerSink } from './media-player.js';
import { createMqttSink } from './mqtt.js';
import { createWyomingSink } from './wyoming.js';

/** Sink factories by target type (exhaustive: a new type fails to compile until it has a sink). */
export const SINK_FACTORIES: Record<TargetType, SinkFactory> = {
  media_player: createMediaPlayerSink,
  assist_satellite: createAssistSatelliteSink,
  wyoming: createWyomingSink,
  hermes: createHermesSink,
  mqtt: createMqttSink,
};
