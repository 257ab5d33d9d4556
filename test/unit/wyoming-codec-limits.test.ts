/**
 * Hostile Wyoming frames at the codec: sizes are refused from the header before the body is buffered, and big
 * frames are read in linear time (the decoder before issue 10 re-copied its buffer on every TCP chunk: a
 * 64 MiB payload took 36 s).
 */
import { describe, expect, it } from 'vitest';
import { EventDecoder } from '../../src/wyoming/codec.js';

const CHUNK = 64 * 1024;

function header(fields: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify({ version: '1.10.2', ...fields })}\n`);
}

describe('Wyoming codec limits', () => {
  it('reads a 64 MiB payload frame sent in 64 KiB TCP chunks in linear time, copying it once', () => {
    const size = 64 * 1024 * 1024;
    const decoder = new EventDecoder({ maxPayloadBytes: size });
    const chunk = Buffer.alloc(CHUNK, 7);
    const t0 = performance.now();
    expect(decoder.push(header({ type: 'audio-chunk', payload_length: size }))).toEqual([]);
    let events: ReturnType<EventDecoder['push']> = [];
    for (let sent = 0; sent < size; sent += CHUNK) events = decoder.push(chunk);
    const ms = performance.now() - t0;
    expect(events).toHaveLength(1);
    expect(events[0]?.payload?.length).toBe(size);
    expect(events[0]?.payload?.[size - 1]).toBe(7);
    expect(decoder.bufferedBytes).toBe(0);
    // About 0.1 s; quadratic copying takes tens of seconds.
    expect(ms).toBeLessThan(5000);
  });

  it('refuses a payload_length or data_length over its limit from the header, before any body byte', () => {
    const payload = new EventDecoder({ maxPayloadBytes: 1024 });
    expect(() => payload.push(header({ type: 'audio-chunk', payload_length: 64 * 1024 * 1024 }))).toThrow(
      expect.objectContaining({
        code: 'PAYLOAD_TOO_LARGE',
        message: expect.stringMatching(/payload_length/),
      }),
    );
    const data = new EventDecoder({ maxDataBytes: 1024 });
    expect(() => data.push(header({ type: 'synthesize', data_length: 1025 }))).toThrow(
      expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/data_length/) }),
    );
    // Under the limits, the same sizes pass.
    const ok = new EventDecoder({ maxDataBytes: 1024, maxPayloadBytes: 1024 });
    const body = Buffer.from(JSON.stringify({ text: 'x'.repeat(100) }));
    const events = ok.push(Buffer.concat([header({ type: 'synthesize', data_length: body.length }), body]));
    expect(events[0]?.data?.text).toBe('x'.repeat(100));
  });

  it('refuses a header line over its limit while it arrives byte by byte, in linear time', () => {
    const decoder = new EventDecoder({ maxHeaderBytes: 64 * 1024 });
    const one = Buffer.from('a');
    const t0 = performance.now();
    let caught: unknown;
    try {
      for (let i = 0; i <= 64 * 1024; i++) decoder.push(one);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('reads a 500 kB header line that arrives byte by byte in linear time', () => {
    const decoder = new EventDecoder({ maxHeaderBytes: 1024 * 1024 });
    const line = header({ type: 'x', pad: 'a'.repeat(500_000) });
    const t0 = performance.now();
    let events = 0;
    for (let i = 0; i < line.length; i++) events += decoder.push(line.subarray(i, i + 1)).length;
    expect(events).toBe(1);
    // About 0.3 s; rescanning or shifting the chunk list on every byte takes minutes.
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('decodes many small events split at every byte', () => {
    const events = Array.from({ length: 200 }, (_, i) => {
      const data = Buffer.from(JSON.stringify({ text: `chunk ${i}` }));
      return Buffer.concat([header({ type: 'synthesize-chunk', data_length: data.length }), data]);
    });
    const bytes = Buffer.concat(events);
    const decoder = new EventDecoder();
    const got: string[] = [];
    for (let i = 0; i < bytes.length; i++) {
      for (const e of decoder.push(bytes.subarray(i, i + 1))) got.push(e.data?.text as string);
    }
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `chunk ${i}`));
    decoder.end();
  });
});
