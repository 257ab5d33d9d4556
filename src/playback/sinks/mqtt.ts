/**
 * Custom MQTT satellites: publishes `{id, url, format, text}` (JSON, QoS 1, not retained) to the target's
 * topic; the satellite fetches the URL and plays it. It reports no end, so the target stays busy for the
 * audio's duration.
 */
import { formatFor, holdForDuration, type SinkFactory } from '../sink.js';

/** The JSON an MQTT target receives. */
export interface MqttTargetPayload {
  id: string;
  url: string;
  format: string;
  text: string;
}

/** Builds an mqtt sink. */
export const createMqttSink: SinkFactory = (spec, deps) => ({
  type: 'mqtt',
  async play(audio, ctx, signal) {
    const media = await audio.as(formatFor(spec, ctx), signal);
    const payload: MqttTargetPayload = { id: ctx.id, url: media.url, format: media.format, text: ctx.text };
    await ctx.claim?.();
    const startedAt = performance.now();
    await deps.publish(spec.url as string, JSON.stringify(payload), { qos: 1 });
    ctx.accepted?.();
    const final = await media.ready(signal);
    await holdForDuration(startedAt, final.durationMs, signal);
    return 'estimated';
  },
});
