/**
 * The Wyoming event codec: framing of events on a byte stream.
 *
 * Protocol source: OHF-Voice/wyoming `wyoming/event.py` (checked against v1.10.2, `async_read_event` /
 * `async_write_event`). Each event on the wire is
 *   1. one UTF-8 JSON header line ending in `\n`: `{"type", "version", "data"?, "data_length"?, "payload_length"?}`;
 *   2. then `data_length` bytes of a JSON object, merged over any inline `data` of the header;
 *   3. then `payload_length` bytes of binary payload (PCM for `audio-chunk`).
 * The Python writer never puts `data` inline (it always sends it separately); older peers and hand-written
 * clients do, so the decoder accepts both.
 */
import type { Readable } from 'node:stream';
import { AppError } from '../shared/errors.js';

/** One Wyoming event: its `type` (e.g. `audio-chunk`), its JSON `data`, and an optional binary `payload`. */
export interface WyomingEvent {
  type: string;
  data?: Record<string, unknown>;
  payload?: Buffer;
}

/** The protocol version we announce in headers (the wyoming library version we checked the framing against). */
export const WYOMING_VERSION = '1.10.2';

/** Default cap on a header line, in bytes: a longer line without `\n` is garbage, not an event. */
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

/** Default cap on `data_length` and on `payload_length`, in bytes. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

const NEWLINE = 0x0a;

/**
 * Encodes one event as the wire bytes: header line, then the data JSON (if `data` has keys), then the payload
 * (if non-empty). Like the reference writer, data goes separately with `data_length`, never inline.
 */
export function encodeEvent(event: WyomingEvent): Buffer {
  const header: Record<string, unknown> = { type: event.type, version: WYOMING_VERSION };
  const parts: Buffer[] = [];
  let dataBytes: Buffer | undefined;
  if (event.data !== undefined && Object.keys(event.data).length > 0) {
    dataBytes = Buffer.from(JSON.stringify(event.data), 'utf8');
    header.data_length = dataBytes.length;
  }
  const payload = event.payload !== undefined && event.payload.length > 0 ? event.payload : undefined;
  if (payload !== undefined) header.payload_length = payload.length;
  parts.push(Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'));
  if (dataBytes !== undefined) parts.push(dataBytes);
  if (payload !== undefined) parts.push(payload);
  return Buffer.concat(parts);
}

/** Limits of a decoder, in bytes. */
export interface DecoderOptions {
  /** Longest accepted header line; default 1 MiB. */
  maxHeaderBytes?: number;
  /** Largest accepted `data_length` or `payload_length`; default 64 MiB. */
  maxBodyBytes?: number;
}

interface PendingHeader {
  type: string;
  data: Record<string, unknown>;
  dataLength: number;
  payloadLength: number;
}

function protocolError(message: string, cause?: unknown): AppError {
  return new AppError('WYOMING_PROTOCOL', `Wyoming protocol error: ${message}`, { cause });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readLength(header: Record<string, unknown>, key: string, max: number): number {
  const value = header[key];
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw protocolError(`header field '${key}' must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  if (value > max) throw protocolError(`header field '${key}' is ${value} bytes, over the limit of ${max}`);
  return value;
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    const preview = bytes.subarray(0, 80).toString('utf8');
    throw protocolError(`${what} is not JSON (starts with ${JSON.stringify(preview)})`, err);
  }
  if (!isPlainObject(parsed)) throw protocolError(`${what} is not a JSON object`);
  return parsed;
}

/**
 * An incremental decoder: feed it TCP chunks of any size with `push`, get back every event they complete.
 * Bytes are copied only when an event straddles chunks.
 *
 * @throws AppError WYOMING_PROTOCOL from `push` on a header that is not a JSON object with a string `type`,
 *   on bad lengths, on non-JSON data, or on a header line over `maxHeaderBytes`; from `end` when the stream
 *   stopped in the middle of an event. After a throw the decoder is unusable.
 */
export class EventDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: PendingHeader | undefined;
  private readonly maxHeaderBytes: number;
  private readonly maxBodyBytes: number;

  constructor(opts: DecoderOptions = {}) {
    this.maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /** Adds bytes; returns the events now complete, in order. */
  push(chunk: Buffer): WyomingEvent[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const events: WyomingEvent[] = [];
    for (;;) {
      const event = this.next();
      if (event === undefined) break;
      events.push(event);
    }
    return events;
  }

  /** Declares the end of the stream. @throws AppError WYOMING_PROTOCOL when bytes of an unfinished event remain. */
  end(): void {
    if (this.pending !== undefined || this.buffer.length > 0) {
      const what = this.pending === undefined ? 'header line' : `'${this.pending.type}' event body`;
      throw protocolError(`stream ended in the middle of a ${what} (${this.buffer.length} bytes left over)`);
    }
  }

  private next(): WyomingEvent | undefined {
    if (this.pending === undefined) {
      const newline = this.buffer.indexOf(NEWLINE);
      if (newline < 0) {
        if (this.buffer.length > this.maxHeaderBytes) {
          throw protocolError(`header line longer than ${this.maxHeaderBytes} bytes without a newline`);
        }
        return undefined;
      }
      if (newline > this.maxHeaderBytes) {
        throw protocolError(`header line of ${newline} bytes is over the limit of ${this.maxHeaderBytes}`);
      }
      this.pending = this.parseHeader(this.buffer.subarray(0, newline));
      this.buffer = this.buffer.subarray(newline + 1);
    }
    const { type, data, dataLength, payloadLength } = this.pending;
    if (this.buffer.length < dataLength + payloadLength) return undefined;
    const merged =
      dataLength > 0
        ? { ...data, ...parseJsonObject(this.buffer.subarray(0, dataLength), `'${type}' data`) }
        : data;
    const event: WyomingEvent = { type, data: merged };
    if (payloadLength > 0) {
      // Copy so the payload does not pin the (possibly large) receive buffer.
      event.payload = Buffer.from(this.buffer.subarray(dataLength, dataLength + payloadLength));
    }
    this.buffer = this.buffer.subarray(dataLength + payloadLength);
    this.pending = undefined;
    return event;
  }

  private parseHeader(line: Buffer): PendingHeader {
    const header = parseJsonObject(line, 'header line');
    if (typeof header.type !== 'string' || header.type.length === 0) {
      throw protocolError('header line has no string "type"');
    }
    const inline = header.data;
    if (inline !== undefined && inline !== null && !isPlainObject(inline)) {
      throw protocolError(`inline data of '${header.type}' is not a JSON object`);
    }
    return {
      type: header.type,
      data: inline ?? {},
      dataLength: readLength(header, 'data_length', this.maxBodyBytes),
      payloadLength: readLength(header, 'payload_length', this.maxBodyBytes),
    };
  }
}

/**
 * Decodes a byte stream (a socket, a Readable, or any async iterable of Buffers) into events, as they complete.
 * Back-pressure follows the consumer: the source is read only as fast as events are taken.
 * Ending the iteration early (break/return) returns the source iterator, which destroys a Readable.
 *
 * @throws AppError WYOMING_PROTOCOL on garbage or a stream that ends mid-event; rethrows source errors as they are.
 */
export async function* decodeEvents(
  source: AsyncIterable<Buffer | string> | Readable,
  opts: DecoderOptions = {},
): AsyncGenerator<WyomingEvent, void, undefined> {
  const decoder = new EventDecoder(opts);
  for await (const chunk of source as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    yield* decoder.push(bytes);
  }
  decoder.end();
}
