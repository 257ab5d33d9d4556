/**
 * An Opus encode thread (node:worker_threads, started by encode-pool.ts): the in-process Ogg Opus encode
 * (resampler, libopus, our Ogg pages: opus-encoder.ts) off the hub's main thread, so that the main thread keeps
 * to HTTP, MQTT, the cache and the engines while a second core encodes. Messages: encode-protocol.ts.
 *
 * Pages go back as they are completed: the header pages with the first audio page as soon as it exists (after
 * about 50 ms of PCM), then per PAGE_BATCH_MS of speech and at the end of each pushed chunk, so live listeners get
 * audio as early as from the main-thread encoder.
 */
import { parentPort } from 'node:worker_threads';
import type { FromEncodeThread, ToEncodeThread } from './encode-protocol.js';
import { pcmBytesFor } from './format.js';
import { FIRST_PIECE_MS, OggOpusEncoder, PAGE_BATCH_MS, prepareInProcessOpus } from './opus-encoder.js';

const port = parentPort;
if (!port) throw new Error('encode-worker runs only as a worker thread (encode-pool.ts starts it)');

/** One encode in this thread. */
interface Job {
  encoder: OggOpusEncoder;
  /** PCM bytes encoded since the last message (its `consumedBytes`). */
  consumed: number;
}
const jobs = new Map<number, Job>();

/** Posts `msg`, moving its bytes (an ArrayBuffer of their own) instead of copying them. */
function post(msg: FromEncodeThread): void {
  const transfer = 'bytes' in msg ? [msg.bytes.buffer as ArrayBuffer] : [];
  port?.postMessage(msg, transfer);
}

/** `pages` in one Uint8Array over a fresh ArrayBuffer (transferable, unlike Buffer's shared pool). */
function pack(pages: Buffer[]): Uint8Array {
  const out = new Uint8Array(pages.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pages) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Encodes one pushed chunk in pieces, posting pages after the first audio page and per PAGE_BATCH_MS. */
function push(id: number, job: Job, pcm: Buffer): void {
  const f = job.encoder.input;
  let pages: Buffer[] = [];
  for (let at = 0; at < pcm.length; ) {
    const firstPiece = job.encoder.audioPagesOut === 0;
    const size = pcmBytesFor(f, firstPiece ? FIRST_PIECE_MS : PAGE_BATCH_MS);
    const piece = pcm.subarray(at, Math.min(pcm.length, at + size));
    at += piece.length;
    job.consumed += piece.length;
    pages.push(...job.encoder.push(piece));
    // Until the first audio page exists the pieces stay small; pages wait for it (headers alone are no audio).
    if (at >= pcm.length || (pages.length > 0 && job.encoder.audioPagesOut > 0)) {
      post({ t: 'pages', id, bytes: pack(pages), consumedBytes: job.consumed });
      job.consumed = 0;
      pages = [];
    }
  }
}

/** Handles one message; a failure of one encode is reported for it alone. */
async function handle(m: ToEncodeThread): Promise<void> {
  if (m.t === 'prepare') {
    post({ t: 'ready', build: await prepareInProcessOpus() });
    return;
  }
  if (m.t === 'open') {
    try {
      jobs.set(m.id, { encoder: await OggOpusEncoder.create(m.format, m.settings), consumed: 0 });
    } catch (err) {
      post({ t: 'error', id: m.id, message: `cannot start the Opus encoder: ${(err as Error).message}` });
    }
    return;
  }
  const job = jobs.get(m.id);
  if (!job) return; // failed or closed already
  try {
    switch (m.t) {
      case 'push':
        push(m.id, job, Buffer.from(m.pcm.buffer, m.pcm.byteOffset, m.pcm.byteLength));
        return;
      case 'finish': {
        jobs.delete(m.id);
        const bytes = pack(job.encoder.finish());
        post({ t: 'end', id: m.id, bytes, consumedBytes: job.consumed });
        return;
      }
      case 'close':
        jobs.delete(m.id);
        job.encoder.close();
        return;
      default:
        m satisfies never;
    }
  } catch (err) {
    jobs.delete(m.id);
    job.encoder.close();
    post({ t: 'error', id: m.id, message: `Opus encoding failed: ${(err as Error).message}` });
  }
}

// One message at a time, in order: an encoder's creation is asynchronous (the first one loads libopus), and the
// pushes that follow must wait for it. A failure outside one encode (libopus cannot load) ends the thread: the
// pool then fails its encodes and reports why.
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: ToEncodeThread) => {
  queue = queue
    .then(() => handle(m))
    .catch((err: unknown) => {
      setImmediate(() => {
        throw err;
      });
    });
});
