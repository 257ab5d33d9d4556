/**
 * PCM kept in fixed-size blocks of one memory area, allocated at the first write and reused from then on (the
 * phrase cache's store, phrases.ts). Memory that V8 sees allocated once does not count again towards its next
 * full collection, as every new Buffer that stays reachable does (see phrases.ts for the measured effect).
 */

/** Bytes per block (16 KiB: a 3.9 s espeak-ng sentence at 22,050 Hz takes 11 blocks). */
export const PCM_BLOCK_BYTES = 16 * 1024;

/** Where one piece of PCM is held: its blocks, in order, and its length in bytes. */
export interface StoredPcm {
  readonly blocks: readonly number[];
  readonly length: number;
}

/** A block store of a fixed capacity. */
export interface PcmBlocks {
  /** Copies `pcm` into free blocks; undefined when too few are free (nothing is written then). */
  write(pcm: Uint8Array): StoredPcm | undefined;
  /** A copy of stored PCM in a new Buffer the caller owns. */
  read(stored: StoredPcm): Buffer;
  /** Gives the blocks of `stored` back; it must not be read afterwards. */
  release(stored: StoredPcm): void;
  /** Blocks free now. */
  readonly freeBlocks: number;
}

/**
 * A store of at least `capacityBytes` (rounded up to whole blocks of `blockBytes`, or one block of
 * `capacityBytes` when that is smaller). Any PCM of up to `capacityBytes` fits in an empty store.
 */
export function createPcmBlocks(capacityBytes: number, blockBytes = PCM_BLOCK_BYTES): PcmBlocks {
  const size = Math.max(1, Math.min(blockBytes, capacityBytes));
  const count = Math.ceil(capacityBytes / size);
  let memory: Buffer | undefined; // allocated at the first write; not zeroed (only written bytes are read)
  const free: number[] = [];
  for (let i = count - 1; i >= 0; i--) free.push(i);
  return {
    write(pcm) {
      const need = Math.ceil(pcm.length / size);
      if (need > free.length) return undefined;
      memory ??= Buffer.allocUnsafeSlow(count * size);
      const blocks = free.splice(free.length - need, need);
      for (let i = 0; i < need; i++) {
        memory.set(
          pcm.subarray(i * size, Math.min(pcm.length, (i + 1) * size)),
          (blocks[i] as number) * size,
        );
      }
      return { blocks, length: pcm.length };
    },
    read(stored) {
      const out = Buffer.allocUnsafe(stored.length);
      stored.blocks.forEach((block, i) => {
        const n = Math.min(size, stored.length - i * size);
        (memory as Buffer).copy(out, i * size, block * size, block * size + n);
      });
      return out;
    },
    release(stored) {
      free.push(...stored.blocks);
    },
    get freeBlocks() {
      return free.length;
    },
  };
}
