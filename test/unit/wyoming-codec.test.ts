import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../src/shared/errors.js';
import { decodeEvents, EventDecoder, encodeEvent, type WyomingEvent } from '../../src/wyoming/codec.js';

/** Bytes as the reference Python writer (wyoming/event.py, async_write_event) lays them out. */
function pythonStyle(type: string, data?: object, payload?: Buffer): Buffer {
  const header: Record<string, unknown> = { type, version: '1.10.2' };
  const dataBytes = data ? Buffer.from(JSON.stringify(data)) : undefined;
  if (dataBytes) header.data_length = dataBytes.length;
  if (payload) header.payload_length = payload.length;
  return Buffer.concat([
    Buffer.from(`${JSON.stringify(header)}\n`),
    dataBytes ?? Buffer.alloc(0),
    payload ?? Buffer.alloc(0),
  ]);
}

function decodeAll(bytes: Buffer): WyomingEvent[] {
  const decoder = new EventDecoder();
  const events = decoder.push(bytes);
  decoder.end();
  return events;
}

function expectProtocolError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isAppError(caught, 'WYOMING_PROTOCOL')).toBe(true);
  expect((caught as Error).message).toMatch(pattern);
}

const pcm = Buffer.from([1, 2, 3, 4, 5, 6, 0x0a, 0x0a]); // payload containing newlines must not confuse framing

describe('encodeEvent', () => {
  it('writes the header line, then data separately with data_length, then the payload', () => {
    const bytes = encodeEvent({
      type: 'audio-chunk',
      data: { rate: 22050, width: 2, channels: 1 },
      payload: pcm,
    });
    const newline = bytes.indexOf(0x0a);
    const header = JSON.parse(bytes.subarray(0, newline).toString());
    const dataJson = JSON.stringify({ rate: 22050, width: 2, channels: 1 });
    expect(header).toEqual({
      type: 'audio-chunk',
      version: expect.any(String),
      data_length: Buffer.byteLength(dataJson),
      payload_length: pcm.length,
    });
    expect(bytes.subarray(newline + 1, newline + 1 + header.data_length).toString()).toBe(dataJson);
    expect(bytes.subarray(newline + 1 + header.data_length)).toEqual(pcm);
  });

  it('omits data_length and payload_length when there is nothing to send', () => {
    const bytes = encodeEvent({ type: 'describe', data: {} });
    expect(JSON.parse(bytes.toString())).toEqual({ type: 'describe', version: expect.any(String) });
  });

  it('counts data_length in UTF-8 bytes, not characters', () => {
    const [event] = decodeAll(encodeEvent({ type: 'synthesize', data: { text: 'Grüße, 世界 ✓' } }));
    expect(event?.data).toEqual({ text: 'Grüße, 世界 ✓' });
  });
});

describe('EventDecoder', () => {
  it('reads data sent inline in the header (older peers)', () => {
    const bytes = Buffer.from('{"type":"synthesize","data":{"text":"hi"}}\n');
    expect(decodeAll(bytes)).toEqual([{ type: 'synthesize', data: { text: 'hi' } }]);
  });

  it('reads data sent separately with data_length (the reference writer)', () => {
    const bytes = pythonStyle('audio-start', { rate: 22050, width: 2, channels: 1 });
    expect(decodeAll(bytes)).toEqual([{ type: 'audio-start', data: { rate: 22050, width: 2, channels: 1 } }]);
  });

  it('merges separate data over inline data', () => {
    const separate = Buffer.from(JSON.stringify({ b: 20, c: 3 }));
    const header = { type: 'x', data: { a: 1, b: 2 }, data_length: separate.length };
    const bytes = Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), separate]);
    expect(decodeAll(bytes)[0]?.data).toEqual({ a: 1, b: 20, c: 3 });
  });

  it('reads a payload of payload_length bytes, even one containing newlines', () => {
    const events = decodeAll(
      Buffer.concat([pythonStyle('audio-chunk', { rate: 16000 }, pcm), pythonStyle('audio-stop')]),
    );
    expect(events.map((e) => e.type)).toEqual(['audio-chunk', 'audio-stop']);
    expect(events[0]?.payload).toEqual(pcm);
    expect(events[1]?.payload).toBeUndefined();
  });

  it('gives the same events whatever the chunk boundaries (split at every byte)', () => {
    const stream = Buffer.concat([
      pythonStyle('audio-start', { rate: 22050, width: 2, channels: 1 }),
      pythonStyle('audio-chunk', { rate: 22050, width: 2, channels: 1 }, pcm),
      Buffer.from('{"type":"info","data":{"tts":[]}}\n'),
      pythonStyle('audio-stop', { timestamp: 1 }),
    ]);
    const whole = decodeAll(stream);
    expect(whole).toHaveLength(4);
    for (let cut = 1; cut < stream.length; cut++) {
      const decoder = new EventDecoder();
      const events = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      decoder.end();
      expect(events).toEqual(whole);
    }
    const decoder = new EventDecoder();
    const oneByOne = [...stream].flatMap((byte) => decoder.push(Buffer.from([byte])));
    expect(oneByOne).toEqual(whole);
  });

  it('rejects a header that is not JSON, with the bytes it saw', () => {
    expectProtocolError(() => decodeAll(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), /not JSON.*HTTP\/1\.1/);
  });

  it('rejects a header without a string type', () => {
    expectProtocolError(() => decodeAll(Buffer.from('{"data":{}}\n')), /no string "type"/);
    expectProtocolError(() => decodeAll(Buffer.from('[1,2]\n')), /not a JSON object/);
  });

  it('rejects bad lengths and non-JSON data', () => {
    expectProtocolError(() => decodeAll(Buffer.from('{"type":"x","payload_length":-1}\n')), /payload_length/);
    expectProtocolError(() => decodeAll(Buffer.from('{"type":"x","data_length":"3"}\n')), /data_length/);
    expectProtocolError(
      () => decodeAll(Buffer.from('{"type":"x","data_length":3}\nabc')),
      /'x' data is not JSON/,
    );
  });

  it('rejects a header line over the cap even before its newline arrives', () => {
    const decoder = new EventDecoder({ maxHeaderBytes: 64 });
    expect(() => decoder.push(Buffer.alloc(65, 'a'))).toThrow(
      expect.objectContaining({
        code: 'PAYLOAD_TOO_LARGE',
        message: expect.stringMatching(/longer than 64/),
      }),
    );
  });

  it('reports a stream that ends in the middle of an event', () => {
    const bytes = pythonStyle('audio-chunk', { rate: 16000 }, pcm);
    const decoder = new EventDecoder();
    expect(decoder.push(bytes.subarray(0, bytes.length - 1))).toEqual([]);
    expectProtocolError(() => decoder.end(), /ended in the middle of a 'audio-chunk' event body/);
  });
});

describe('decodeEvents', () => {
  it('decodes a Readable of arbitrary chunks and round-trips encodeEvent', async () => {
    const sent: WyomingEvent[] = [
      { type: 'synthesize', data: { text: 'Hello.', voice: { name: 'en_US-joe-medium' } } },
      { type: 'audio-chunk', data: { rate: 22050, width: 2, channels: 1 }, payload: pcm },
      { type: 'audio-stop', data: {} },
    ];
    const bytes = Buffer.concat(sent.map(encodeEvent));
    const pieces = [bytes.subarray(0, 7), bytes.subarray(7, 50), bytes.subarray(50)];
    const received: WyomingEvent[] = [];
    for await (const event of decodeEvents(Readable.from(pieces))) received.push(event);
    expect(received).toEqual(sent);
  });

  it('throws WYOMING_PROTOCOL when the source ends mid-event', async () => {
    const iterate = async (): Promise<void> => {
      for await (const _ of decodeEvents(Readable.from([Buffer.from('{"type":"x"')]))) {
        // nothing
      }
    };
    await expect(iterate()).rejects.toMatchObject({ code: 'WYOMING_PROTOCOL' });
  });
});
