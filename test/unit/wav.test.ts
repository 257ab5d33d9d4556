import { describe, expect, it } from 'vitest';
import type { AudioChunk, AudioFormat } from '../../src/audio/format.js';
import {
  encodeWav,
  parseWavBuffer,
  parseWavStream,
  patchWavSizes,
  WAV_UNKNOWN_DATA_BYTES,
  wavHeader,
} from '../../src/audio/wav.js';
import { isAppError } from '../../src/shared/errors.js';

const MONO_24K: AudioFormat = { rateHz: 24000, widthBytes: 2, channels: 1 };
const STEREO_22K: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 2 };

/** A recognisable s16le ramp, so misaligned or dropped bytes show up. */
function ramp(samples: number): Buffer {
  const buf = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) buf.writeInt16LE(((i * 37) % 60000) - 30000, i * 2);
  return buf;
}

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

/** A WAV whose data chunk declares `declared` bytes, whatever follows. */
function wavWithDeclaredSize(format: AudioFormat, pcm: Buffer, declared: number): Buffer {
  const header = wavHeader(format, pcm.length);
  header.writeUInt32LE(declared, 40);
  return Buffer.concat([header, pcm]);
}

async function* pieces(buf: Buffer, sizes: number[]): AsyncIterable<Uint8Array> {
  let at = 0;
  for (let i = 0; at < buf.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield new Uint8Array(buf.subarray(at, at + n));
    at += n;
  }
}

async function collect(source: AsyncIterable<Buffer | Uint8Array>): Promise<AudioChunk[]> {
  const out: AudioChunk[] = [];
  for await (const c of parseWavStream(source)) out.push(c);
  return out;
}

function joined(chunks: AudioChunk[]): Buffer {
  return Buffer.concat(chunks.map((c) => c.pcm));
}

async function expectBadResponse(source: AsyncIterable<Buffer | Uint8Array>, pattern: RegExp): Promise<void> {
  const err = await collect(source).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isAppError(err, 'ENGINE_BAD_RESPONSE')).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

describe('wavHeader / encodeWav', () => {
  it('writes a 44-byte canonical PCM header', () => {
    const h = wavHeader(STEREO_22K, 1000);
    expect(h.length).toBe(44);
    expect(h.toString('latin1', 0, 4)).toBe('RIFF');
    expect(h.readUInt32LE(4)).toBe(1036);
    expect(h.toString('latin1', 8, 16)).toBe('WAVEfmt ');
    expect(h.readUInt16LE(20)).toBe(1);
    expect(h.readUInt16LE(22)).toBe(2);
    expect(h.readUInt32LE(24)).toBe(22050);
    expect(h.readUInt32LE(28)).toBe(22050 * 4);
    expect(h.readUInt16LE(32)).toBe(4);
    expect(h.readUInt16LE(34)).toBe(16);
    expect(h.readUInt32LE(40)).toBe(1000);
  });

  it('clamps an unknown stream length into 32 bits', () => {
    const h = wavHeader(MONO_24K, WAV_UNKNOWN_DATA_BYTES);
    expect(h.readUInt32LE(4)).toBe(0xffffffff);
    expect(wavHeader(MONO_24K, 2 ** 40).readUInt32LE(40)).toBe(0xffffffff);
  });

  it('round-trips through parseWavBuffer', async () => {
    const pcm = ramp(4801);
    const parsed = await parseWavBuffer(encodeWav(MONO_24K, pcm));
    expect(parsed.format).toEqual(MONO_24K);
    expect(parsed.pcm.equals(pcm)).toBe(true);
  });

  it('patchWavSizes fixes a streamed header to the real length', () => {
    const file = Buffer.concat([wavHeader(MONO_24K, WAV_UNKNOWN_DATA_BYTES), ramp(100)]);
    expect(patchWavSizes(file, file.length)).toBe(true);
    expect(file.readUInt32LE(4)).toBe(file.length - 8);
    expect(file.readUInt32LE(40)).toBe(200);
    expect(patchWavSizes(Buffer.from('not a wav at all, but long enough to be a header!!'), 50)).toBe(false);
  });
});

describe('parseWavStream', () => {
  it.each([
    ['0 (xtts-api-server /tts_stream)', 0],
    ['0x7FFFFFFF', 0x7fffffff],
    ['about 2 GB (pocket-tts serve)', 2_000_000_000],
    ['0xFFFFFFFF', 0xffffffff],
    ['too small (100 bytes)', 100],
  ])('reads to the end when the data size says %s', async (_label, declared) => {
    const pcm = ramp(24000);
    const chunks = await collect(pieces(wavWithDeclaredSize(MONO_24K, pcm, declared), [4096]));
    expect(chunks.every((c) => c.format.rateHz === 24000 && c.format.channels === 1)).toBe(true);
    expect(joined(chunks).equals(pcm)).toBe(true);
  });

  it('yields audio as it arrives, before the source ends', async () => {
    const wav = wavWithDeclaredSize(MONO_24K, ramp(4800), 0);
    let delivered = 0;
    async function* source(): AsyncIterable<Buffer> {
      for (let at = 0; at < wav.length; at += 1000) {
        delivered = at + 1000;
        yield wav.subarray(at, at + 1000);
      }
    }
    for await (const c of parseWavStream(source())) {
      expect(delivered).toBeLessThan(wav.length);
      expect(c.pcm.length).toBeGreaterThan(0);
      break;
    }
  });

  it('gives the same PCM whatever the split point, in whole frames only', async () => {
    const pcm = ramp(301 * 2);
    const wav = Buffer.concat([
      wavHeader(STEREO_22K, 0).subarray(0, 36),
      chunk('LIST', Buffer.from('INFOISFT\u0005\u0000\u0000\u0000abcde', 'latin1')),
      chunk('data', pcm).subarray(0, 4),
      Buffer.alloc(4),
      pcm,
    ]);
    for (let split = 1; split < wav.length; split++) {
      const chunks = await collect(pieces(wav, [split, wav.length]));
      expect(chunks.every((c) => c.pcm.length % 4 === 0)).toBe(true);
      expect(joined(chunks).equals(pcm)).toBe(true);
    }
    const byteByByte = await collect(pieces(wav, [1]));
    expect(byteByByte.every((c) => c.pcm.length === 4)).toBe(true);
    expect(joined(byteByByte).equals(pcm)).toBe(true);
  });

  it('carries odd-sized pieces over and drops a trailing partial frame', async () => {
    const pcm = ramp(1000);
    const wav = Buffer.concat([wavWithDeclaredSize(STEREO_22K, pcm, 0), Buffer.from([1, 2, 3])]);
    const chunks = await collect(pieces(wav, [7, 3, 11, 1]));
    expect(chunks.every((c) => c.pcm.length % 4 === 0 && c.format.rateHz === 22050)).toBe(true);
    expect(joined(chunks).equals(pcm)).toBe(true);
  });

  it('skips a LIST chunk before data and a known chunk after an honest data size', async () => {
    const pcm = ramp(500);
    const wav = Buffer.concat([
      wavHeader(MONO_24K, 0).subarray(0, 36),
      chunk('LIST', Buffer.alloc(33, 0x41)),
      chunk('data', pcm),
      chunk('LIST', Buffer.alloc(20, 0x42)),
    ]);
    expect(joined(await collect(pieces(wav, [5]))).equals(pcm)).toBe(true);
  });

  it('converts 32-bit float (scipy layout: 18-byte fmt and a fact chunk) to s16le', async () => {
    const values = [0, 0.5, -0.5, 1, -1, 2, -2];
    const floats = Buffer.alloc(values.length * 4);
    for (const [i, v] of values.entries()) floats.writeFloatLE(v, i * 4);
    const fmt = Buffer.alloc(18);
    fmt.writeUInt16LE(3, 0);
    fmt.writeUInt16LE(1, 2);
    fmt.writeUInt32LE(24000, 4);
    fmt.writeUInt32LE(96000, 8);
    fmt.writeUInt16LE(4, 12);
    fmt.writeUInt16LE(32, 14);
    const fact = Buffer.alloc(4);
    fact.writeUInt32LE(values.length, 0);
    const wav = Buffer.concat([
      Buffer.from('RIFF\0\0\0\0WAVE', 'latin1'),
      chunk('fmt ', fmt),
      chunk('fact', fact),
      chunk('data', floats),
    ]);
    const chunks = await collect(pieces(wav, [3]));
    const pcm = joined(chunks);
    const samples = Array.from({ length: pcm.length / 2 }, (_, i) => pcm.readInt16LE(i * 2));
    expect(samples).toEqual([0, 16384, -16384, 32767, -32768, 32767, -32768]);
    expect(chunks[0]!.format).toEqual({ rateHz: 24000, widthBytes: 2, channels: 1 });
  });

  it('converts WAVE_FORMAT_EXTENSIBLE float to s16le', async () => {
    const fmt = Buffer.alloc(40);
    fmt.writeUInt16LE(0xfffe, 0);
    fmt.writeUInt16LE(1, 2);
    fmt.writeUInt32LE(16000, 4);
    fmt.writeUInt32LE(64000, 8);
    fmt.writeUInt16LE(4, 12);
    fmt.writeUInt16LE(32, 14);
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(3, 24); // subformat GUID starts with the format tag: IEEE float
    const floats = Buffer.alloc(8);
    floats.writeFloatLE(0.25, 0);
    floats.writeFloatLE(-0.25, 4);
    const wav = Buffer.concat([
      Buffer.from('RIFF\0\0\0\0WAVE', 'latin1'),
      chunk('fmt ', fmt),
      chunk('data', floats),
    ]);
    const parsed = await parseWavBuffer(wav);
    expect(parsed.format.rateHz).toBe(16000);
    expect([parsed.pcm.readInt16LE(0), parsed.pcm.readInt16LE(2)]).toEqual([8192, -8192]);
  });

  it('rejects garbage with ENGINE_BAD_RESPONSE and says what it got', async () => {
    await expectBadResponse(
      pieces(Buffer.from('<html><body>502 Bad Gateway</body></html>'), [4]),
      /RIFF\/WAVE.*<htm/,
    );
    await expectBadResponse(pieces(Buffer.from('RIFF\0\0\0\0AVI LIST'), [64]), /RIFF\/WAVE/);
  });

  it('rejects a stream that ends before the data chunk', async () => {
    await expectBadResponse(pieces(wavHeader(MONO_24K, 0).subarray(0, 30), [8]), /ended before/);
    await expectBadResponse(
      pieces(wavHeader(MONO_24K, 0).subarray(0, 36), [8]),
      /ended before its data chunk/,
    );
  });

  it('rejects codecs it cannot convert (mu-law)', async () => {
    const wav = wavHeader(MONO_24K, 0);
    wav.writeUInt16LE(7, 20);
    wav.writeUInt16LE(8, 34);
    await expectBadResponse(pieces(wav, [44]), /format tag 7/);
  });
});
