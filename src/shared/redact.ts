/**
 * Keeping credentials out of what the hub shows (DESIGN "Delivery and limits": no credential in a log line, a
 * status payload, an event or the health answer). Options may carry them inside URLs (`mqtt.url` as
 * `mqtt://user:secret@host`, an engine's `http://user:secret@host`), and error messages quote those URLs.
 */

/** `scheme://user:password@` or `scheme://token@` inside any text. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;

/** The credentials inside URLs of `text` replaced: `mqtt://u:p@host` → `mqtt://***@host`. */
export function redactCredentials(text: string): string {
  return text.includes('@') ? text.replace(URL_CREDENTIALS, '$1***@') : text;
}

/**
 * A copy of a JSON-like value with `redactCredentials` applied to every string in it: strings, arrays and
 * plain objects are walked (to a depth of 8), an Error is copied with its message and stack redacted, and any
 * other object (a Buffer, a Date) is left as it is.
 */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactCredentials(value) as T;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1)) as T;
  if (value instanceof Error) {
    const copy = Object.create(Object.getPrototypeOf(value)) as Error;
    Object.assign(copy, value);
    Object.defineProperty(copy, 'message', { value: redactCredentials(value.message), enumerable: false });
    Object.defineProperty(copy, 'stack', { value: redactCredentials(value.stack ?? ''), enumerable: false });
    return copy as T;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactDeep(v, depth + 1)]),
  ) as T;
}
