/**
 * Publish-topic checks, after the MQTT 5 spec §4.7 (Topic Names and Topic Filters) and mosquitto's
 * `mosquitto_pub_topic_check` (eclipse-mosquitto/mosquitto `src/handle_publish.c` answers a publish to a
 * topic with `+` or `#` with MOSQ_ERR_MALFORMED_PACKET, i.e. it disconnects the client).
 */

/** Longest `reply_to` / response topic the hub publishes to on a caller's behalf, in UTF-8 bytes. */
export const MAX_REPLY_TOPIC_BYTES = 256;
/** Longest topic an MQTT string can hold, in UTF-8 bytes (a two-byte length prefix). */
export const MAX_TOPIC_BYTES = 65_535;

/** A lone UTF-16 surrogate cannot be encoded as UTF-8 (MQTT strings must be well-formed UTF-8). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `topic` is not a valid publish topic, or undefined when it is.
 * Refused: empty, `+` or `#` anywhere, U+0000, ill-formed UTF-16 (not encodable as UTF-8), longer than
 * `maxBytes` UTF-8 bytes; with `callerSupplied` also a leading `$` (broker-internal topics such as `$SYS`).
 */
export function publishTopicProblem(
  topic: string,
  opts: { maxBytes?: number; callerSupplied?: boolean } = {},
): string | undefined {
  const maxBytes = opts.maxBytes ?? MAX_TOPIC_BYTES;
  if (topic.length === 0) return 'is empty';
  if (topic.includes('+') || topic.includes('#')) return 'holds a wildcard (+ or #)';
  if (topic.includes('\u0000')) return 'holds a NUL character';
  if (LONE_SURROGATE.test(topic)) return 'is not valid UTF-8';
  const bytes = Buffer.byteLength(topic, 'utf8');
  if (bytes > maxBytes) return `is ${bytes} bytes long; the limit is ${maxBytes}`;
  if (opts.callerSupplied && topic.startsWith('$')) return "starts with '$' (reserved for the broker)";
  return undefined;
}
