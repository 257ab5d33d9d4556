/**
 * The messages between the hub's main thread and an Opus encode thread (encode-worker.ts, driven by
 * encode-pool.ts). One thread serves several encodes at once, each by its `id`. Byte payloads are Uint8Arrays
 * over an ArrayBuffer of their own, handed over in the transfer list (moved, not copied).
 */
import type { AudioFormat } from './format.js';
import type { LibopusBuild, OpusEncodeSettings } from './opus-encoder.js';

/** Main thread → encode thread. */
export type ToEncodeThread =
  /** Load libopus and the resampler and encode a test tone; answered by `ready` (or the thread dies). */
  | { t: 'prepare' }
  /** Start encode `id` of PCM in `format` (the first chunk's format: every later push is in it). */
  | { t: 'open'; id: number; format: AudioFormat; settings: OpusEncodeSettings }
  /** PCM of encode `id`, whole frames of its format; answered by one or more `pages`. */
  | { t: 'push'; id: number; pcm: Uint8Array }
  /** No more PCM for `id`: encode the rest; answered by `end`. */
  | { t: 'finish'; id: number }
  /** Encode `id` is abandoned (abort, error, consumer gone): free it, answer nothing. */
  | { t: 'close'; id: number };

/** Encode thread → main thread. */
export type FromEncodeThread =
  | { t: 'ready'; build: LibopusBuild }
  /**
   * Ogg pages of encode `id` (possibly none: `bytes` empty), and how many bytes of the pushed PCM they account
   * for (the sum over an encode's `pages` and `end` is every byte pushed).
   */
  | { t: 'pages'; id: number; bytes: Uint8Array; consumedBytes: number }
  /** The last pages of encode `id` (the last one flagged EOS); the encode is over. */
  | { t: 'end'; id: number; bytes: Uint8Array; consumedBytes: number }
  /** Encode `id` failed in libopus or the resampler; it is over. */
  | { t: 'error'; id: number; message: string };
