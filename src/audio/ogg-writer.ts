/**
 * Writing Ogg Opus pages in process (our own muxer; the codec is libopus, see opus-encoder.ts).
 *
 * Facts, from the specs:
 * - RFC 3533 §6 (page header): "OggS", stream structure version 0, header type flags (0x01 continued packet,
 *   0x02 beginning of stream, 0x04 end of stream), a 64-bit granule position, the stream serial number, the page
 *   sequence number, a CRC-32 over the whole page with its CRC field zeroed, the segment count and the lacing
 *   values (a packet of L bytes is floor(L/255) values of 255 and one value L mod 255, so a length that is a
 *   multiple of 255 ends in a 0). The CRC is the direct (unreflected) CRC-32 with polynomial 0x04c11db7,
 *   initial value 0 and no final XOR (libogg `framing.c`).
 * - RFC 7845 §5.1 (OpusHead: magic, version 1, channel count, pre-skip in 48 kHz samples, the input sample rate,
 *   output gain Q7.8 dB, channel mapping family 0 for mono/stereo), §5.2 (OpusTags: magic, vendor string, comment
 *   count), §3 (the ID header alone on the first page, the comment header on its own page(s), audio from the next
 *   page on), §4 (granule positions count 48 kHz samples, including the pre-skip; a page on which no packet ends
 *   has granule −1), §4.4 (end trimming: only the last page, flagged EOS, may give a granule position below the
 *   samples its packets hold; decoders then drop the excess).
 */

/** Header-type flags of an Ogg page (RFC 3533 §6). */
const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;
/** Largest packet one page can hold whole: 255 lacing values of 255 bytes. We never split packets. */
export const MAX_PACKET_BYTES = 255 * 255 - 1;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let bit = 0; bit < 8; bit++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

/** The Ogg CRC-32 of `bytes` (RFC 3533 §6: polynomial 0x04c11db7, direct, initial 0, no final XOR). */
export function oggCrc32(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ (bytes[i] as number)) & 0xff] as number)) >>> 0;
  }
  return crc;
}

/** How many lacing values a packet of `length` bytes takes. */
const lacingCount = (length: number): number => Math.floor(length / 255) + 1;

/** What one page carries: whole packets only, its flags and its granule position (−1n: no packet ends here). */
export interface OggPageSpec {
  packets: Uint8Array[];
  granule: bigint;
  bos?: boolean;
  eos?: boolean;
}

/**
 * A writer of one logical Ogg stream: assigns the serial number and page sequence numbers and builds each page
 * with its CRC. Packets are never split across pages.
 */
export class OggStreamWriter {
  private sequence = 0;

  /** @param serial the stream serial number (any 32-bit value; random by default). */
  constructor(readonly serial: number = Math.floor(Math.random() * 0x1_0000_0000)) {}

  /**
   * Builds the next page.
   * @throws RangeError when the packets need more than 255 lacing values or one exceeds MAX_PACKET_BYTES.
   */
  page(spec: OggPageSpec): Buffer {
    let segments = 0;
    let bodyBytes = 0;
    for (const p of spec.packets) {
      if (p.length > MAX_PACKET_BYTES) throw new RangeError(`Ogg packet of ${p.length} bytes is too large`);
      segments += lacingCount(p.length);
      bodyBytes += p.length;
    }
    if (segments > 255) throw new RangeError(`Ogg page needs ${segments} lacing values (max 255)`);
    // allocUnsafe: every byte is written below; small pages come from Node's shared pool, not one
    // ArrayBuffer each (fewer external allocations for the GC to track and sweep).
    const page = Buffer.allocUnsafe(27 + segments + bodyBytes);
    page.write('OggS', 0, 'latin1');
    page[4] = 0; // stream structure version
    page[5] = (spec.bos ? FLAG_BOS : 0) | (spec.eos ? FLAG_EOS : 0);
    page.writeBigInt64LE(spec.granule, 6);
    page.writeUInt32LE(this.serial >>> 0, 14);
    page.writeUInt32LE(this.sequence++, 18);
    page.writeUInt32LE(0, 22); // the CRC, zero while it is computed
    page[26] = segments;
    let lace = 27;
    for (const p of spec.packets) {
      // A packet of L bytes: floor(L/255) values of 255, then L mod 255 (RFC 3533 §6).
      page.fill(255, lace, lace + Math.floor(p.length / 255));
      lace += Math.floor(p.length / 255);
      page[lace++] = p.length % 255;
    }
    let at = lace;
    for (const p of spec.packets) {
      page.set(p, at);
      at += p.length;
    }
    page.writeUInt32LE(oggCrc32(page), 22);
    return page;
  }
}

/** The fields of an OpusHead packet for channel mapping family 0 (mono or stereo). */
export interface OpusHeadFields {
  channels: 1 | 2;
  /** Samples at 48 kHz to drop from the decoder's output at the start (the encoder's look-ahead). */
  preSkip: number;
  /** The sample rate of the audio before encoding, in Hz (informational; playback is always 48 kHz). */
  inputRateHz: number;
}

/** The OpusHead identification header packet (RFC 7845 §5.1), 19 bytes. */
export function opusHead(f: OpusHeadFields): Buffer {
  const b = Buffer.alloc(19);
  b.write('OpusHead', 0, 'latin1');
  b[8] = 1; // version
  b[9] = f.channels;
  b.writeUInt16LE(f.preSkip, 10);
  b.writeUInt32LE(f.inputRateHz, 12);
  b.writeInt16LE(0, 16); // output gain
  b[18] = 0; // channel mapping family 0: mono or stereo, no mapping table
  return b;
}

/** The OpusTags comment header packet (RFC 7845 §5.2) with `vendor` and no user comments. */
export function opusTags(vendor: string): Buffer {
  const v = Buffer.from(vendor, 'utf8');
  const b = Buffer.alloc(8 + 4 + v.length + 4);
  b.write('OpusTags', 0, 'latin1');
  b.writeUInt32LE(v.length, 8);
  v.copy(b, 12);
  b.writeUInt32LE(0, 12 + v.length); // user comment list length
  return b;
}
