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

/**
 * Default cap on a header line, in bytes: a longer line without `\n` is garbage, not an event. Generous for the
 * engines and microphones the hub connects to (older peers put `info` data inline); the server, which hears from
 * anyone, passes its own smaller limits.
 */
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

/** Default cap on `data_length` and on `payload_length`, in bytes (when the specific caps are not given). */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

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

/**
 * Limits of a decoder, in bytes, each checked before the bytes it bounds are buffered: a header line is
 * refused as soon as more than `maxHeaderBytes` arrived without a newline; `data_length` and `payload_length`
 * are refused from the header, before any byte of the body is read.
 */
export interface DecoderOptions {
  /** Longest accepted header line; default DEFAULT_MAX_HEADER_BYTES (1 MiB). */
  maxHeaderBytes?: number;
  /** Largest accepted `data_length` and `payload_length` unless given separately; default 16 MiB. */
  maxBodyBytes?: number;
  /** Largest accepted `data_length` (the JSON data); default `maxBodyBytes`. */
  maxDataBytes?: number;
  /** Largest accepted `payload_length` (the binary payload); default `maxBodyBytes`. */
  maxPayloadBytes?: number;
}

/**
 * Received bytes as a list of chunks: appending never copies, and bytes are copied once, when an event's body
 * is taken out (a view when it lies in one chunk). Reading a 64 MiB payload in 64 KiB TCP chunks therefore
 * costs 64 MiB of copying, not the 32 GiB that concatenating on every chunk costs.
 */
class ByteQueue {
  /** Chunks from index `head` on are queued (earlier slots are spent; compacted now and then). */
  private chunks: Buffer[] = [];
  private head = 0;
  /** Bytes of chunks[head] already taken. */
  private offset = 0;
  /** `indexOf` state: chunks from `head` up to this one were searched; they hold `scanBase` bytes. */
  private scanChunk = 0;
  private scanBase = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /**
   * Index (from the queue's start) of the first `byte`, or -1. Chunks searched in vain are not searched again
   * until the next `take`, so a line arriving byte by byte costs linear time.
   */
  indexOf(byte: number): number {
    this.scanChunk = Math.max(this.scanChunk, this.head);
    for (; this.scanChunk < this.chunks.length; this.scanChunk++) {
      const chunk = this.chunks[this.scanChunk] as Buffer;
      const start = this.scanChunk === this.head ? this.offset : 0;
      const at = chunk.indexOf(byte, start);
      if (at >= 0) return this.scanBase + at - start;
      this.scanBase += chunk.length - start;
    }
    return -1;
  }

  /** Removes the first `n` bytes (n ≤ length) and returns them: a view inside one chunk, else one copy. */
  take(n: number): Buffer {
    let out: Buffer;
    const first = this.chunks[this.head];
    if (n === 0 || first === undefined) {
      out = Buffer.alloc(0);
    } else if (first.length - this.offset >= n) {
      out = first.subarray(this.offset, this.offset + n);
      this.advance(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let copied = 0;
      while (copied < n) {
        const chunk = this.chunks[this.head] as Buffer;
        const piece = Math.min(n - copied, chunk.length - this.offset);
        chunk.copy(out, copied, this.offset, this.offset + piece);
        copied += piece;
        this.advance(piece);
      }
    }
    this.length -= n;
    this.scanChunk = this.head;
    this.scanBase = 0;
    return out;
  }

  /** Moves the read position `n` bytes on within chunks[head], to the next chunk when it is used up. */
  private advance(n: number): void {
    this.offset += n;
    if (this.offset < (this.chunks[this.head] as Buffer).length) return;
    this.head++;
    this.offset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
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

function tooLarge(message: string): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `Wyoming event refused: ${message}`);
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
  if (value > max) throw tooLarge(`header field '${key}' is ${value} bytes, over the limit of ${max}`);
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
 * Time and copying are linear in the bytes received (see ByteQueue); limits are checked before buffering.
 *
 * @throws AppError PAYLOAD_TOO_LARGE from `push` when a header line, `data_length` or `payload_length` is over
 *   its limit; WYOMING_PROTOCOL on a header that is not a JSON object with a string `type`, on bad lengths or on
 *   non-JSON data; from `end` (WYOMING_PROTOCOL) when the stream stopped in the middle of an event. After a
 *   throw the decoder is unusable.
 */
export class EventDecoder {
  private readonly queue = new ByteQueue();
  private pending: PendingHeader | undefined;
  private readonly maxHeaderBytes: number;
  private readonly maxDataBytes: number;
  private readonly maxPayloadBytes: number;

  constructor(opts: DecoderOptions = {}) {
    this.maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    const body = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxDataBytes = opts.maxDataBytes ?? body;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? body;
  }

  /** Adds bytes; returns the events now complete, in order. */
  push(chunk: Buffer): WyomingEvent[] {
    this.queue.push(chunk);
    const events: WyomingEvent[] = [];
    for (;;) {
      const event = this.next();
      if (event === undefined) break;
      events.push(event);
    }
    return events;
  }

  /** Bytes received and not yet part of a returned event. */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** Declares the end of the stream. @throws AppError WYOMING_PROTOCOL when bytes of an unfinished event remain. */
  end(): void {
    if (this.pending !== undefined || this.queue.length > 0) {
      const what = this.pending === undefined ? 'header line' : `'${this.pending.type}' event body`;
      throw protocolError(`stream ended in the middle of a ${what} (${this.queue.length} bytes left over)`);
    }
  }

  private next(): WyomingEvent | undefined {
    if (this.pending === undefined) {
      const newline = this.queue.indexOf(NEWLINE);
      if (newline < 0) {
        if (this.queue.length > this.maxHeaderBytes) {
          throw tooLarge(`header line longer than ${this.maxHeaderBytes} bytes without a newline`);
        }
        return undefined;
      }
      if (newline > this.maxHeaderBytes) {
        throw tooLarge(`header line of ${newline} bytes is over the limit of ${this.maxHeaderBytes}`);
      }
      const line = this.queue.take(newline + 1).subarray(0, newline);
      this.pending = this.parseHeader(line);
    }
    const { type, data, dataLength, payloadLength } = this.pending;
    if (this.queue.length < dataLength + payloadLength) return undefined;
    const merged =
      dataLength > 0 ? { ...data, ...parseJsonObject(this.queue.take(dataLength), `'${type}' data`) } : data;
    const event: WyomingEvent = { type, data: merged };
    if (payloadLength > 0) {
      const payload = this.queue.take(payloadLength);
      // A view would pin the whole (possibly large) receive chunk for as long as the payload lives.
      event.payload = payload.length < payload.buffer.byteLength ? Buffer.from(payload) : payload;
    }
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
      dataLength: readLength(header, 'data_length', this.maxDataBytes),
      payloadLength: readLength(header, 'payload_length', this.maxPayloadBytes),
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
