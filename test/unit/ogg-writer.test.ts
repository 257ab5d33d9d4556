import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { OggStreamWriter, oggCrc32, opusHead, opusTags } from '../../src/audio/ogg-writer.js';

/** The pages of an Ogg stream: header fields, lacing values and body (RFC 3533 §6). */
function pages(buf: Buffer) {
  const out: Array<{
    flags: number;
    granule: bigint;
    seq: number;
    crc: number;
    lace: number[];
    page: Buffer;
  }> = [];
  for (let at = 0; at < buf.length; ) {
    expect(buf.toString('latin1', at, at + 4)).toBe('OggS');
    const n = buf[at + 26] as number;
    const lace = [...buf.subarray(at + 27, at + 27 + n)];
    const size = 27 + n + lace.reduce((a, b) => a + b, 0);
    out.push({
      flags: buf[at + 5] as number,
      granule: buf.readBigInt64LE(at + 6),
      seq: buf.readUInt32LE(at + 18),
      crc: buf.readUInt32LE(at + 22),
      lace,
      page: buf.subarray(at, at + size),
    });
    at += size;
  }
  return out;
}

function crcOf(page: Buffer): number {
  const copy = Buffer.from(page);
  copy.writeUInt32LE(0, 22);
  return oggCrc32(copy);
}

describe('Ogg page writer', () => {
  it('computes the same CRC-32 as libogg for every page ffmpeg writes', () => {
    const ogg = execFileSync('ffmpeg', [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1'],
      ...['-c:a', 'libopus', '-f', 'ogg', 'pipe:1'],
    ]);
    const all = pages(ogg);
    expect(all.length).toBeGreaterThan(2);
    for (const p of all) expect(crcOf(p.page)).toBe(p.crc);
  });

  it('laces packets (a multiple of 255 bytes ends in a 0), numbers pages and sets BOS/EOS', () => {
    const w = new OggStreamWriter(0x1234);
    const first = w.page({ packets: [Buffer.alloc(19, 1)], granule: 0n, bos: true });
    const second = w.page({ packets: [Buffer.alloc(510, 2), Buffer.alloc(3, 3)], granule: 1920n });
    const last = w.page({ packets: [Buffer.alloc(300, 4)], granule: 2000n, eos: true });
    const [a, b, c] = pages(Buffer.concat([first, second, last]));
    expect(a?.flags).toBe(0x02);
    expect(b?.lace).toEqual([255, 255, 0, 3]);
    expect(b?.granule).toBe(1920n);
    expect(c?.lace).toEqual([255, 45]);
    expect(c?.flags).toBe(0x04);
    expect([a?.seq, b?.seq, c?.seq]).toEqual([0, 1, 2]);
    for (const p of [a, b, c]) expect(crcOf(p?.page as Buffer)).toBe(p?.crc);
    expect(second.readUInt32LE(14)).toBe(0x1234);
  });

  it('refuses a page with more than 255 lacing values', () => {
    const w = new OggStreamWriter();
    expect(() => w.page({ packets: [Buffer.alloc(255 * 255)], granule: 0n })).toThrow(RangeError);
  });

  it('writes OpusHead and OpusTags as RFC 7845 §5 lays them out', () => {
    const head = opusHead({ channels: 1, preSkip: 312, inputRateHz: 22050 });
    expect(head.toString('latin1', 0, 8)).toBe('OpusHead');
    expect([
      head[8],
      head[9],
      head.readUInt16LE(10),
      head.readUInt32LE(12),
      head.readInt16LE(16),
      head[18],
    ]).toEqual([1, 1, 312, 22050, 0, 0]);
    const tags = opusTags('x');
    expect(tags.toString('latin1', 0, 8)).toBe('OpusTags');
    expect(tags.readUInt32LE(8)).toBe(1);
    expect(tags.toString('latin1', 12, 13)).toBe('x');
    expect(tags.readUInt32LE(13)).toBe(0);
  });
});
