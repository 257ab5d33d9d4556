/**
 * The request journal: MQTT say requests the hub has acknowledged but not finished, kept on disk so a crash
 * or a stop loses none of them (DESIGN "Delivery and limits"). One append-only file of JSON lines
 * (`<dir>/requests.journal`, records in journal-file.ts).
 *
 * Group commit: records are buffered and written by one writer, which writes everything buffered in one
 * `write` and one `fdatasync`; while it syncs, new records gather for the next round. A burst therefore costs
 * a few syncs, not one per request. A torn last line (a crash mid-write) is ignored when reading.
 * Compaction: once COMPACT_AFTER_BYTES were appended, the live records (unfinished requests, their attempts
 * and targets, the last RECENT_KEYS finished keys) are written to a temp file, synced, and renamed over it.
 *
 * Claims (several hubs on one share volume, issue 15): whoever reads a journal to run its requests first
 * renames it into its own dir as `<name>.claimed` (rename is atomic, so exactly one hub gets each file), imports
 * it, and deletes it once its records are in its own journal. `open()` claims the hub's own journal that way
 * and imports any `.claimed` file a crash left behind; `takeOver(path)` claims a dead hub's journal. If another
 * hub took this hub's journal while it was away, `stolen()` says so (the file at the path is not the open one).
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../shared/log.js';
import { type JournaledRequest, liveLines, readJournal, requestLine } from './journal-file.js';

export { deliveryKey, type JournaledRequest } from './journal-file.js';

/** Bytes appended after which the journal is compacted. */
export const COMPACT_AFTER_BYTES = 1024 * 1024;
/** Keys of finished requests remembered (to recognise a redelivery of one), newest kept. */
export const RECENT_KEYS = 2000;
/** The journal's file name inside its dir. */
export const JOURNAL_FILE = 'requests.journal';
/** Suffix of a journal file claimed for import (own leftovers and journals taken over from other hubs). */
export const CLAIM_SUFFIX = '.claimed';

/** The journal. */
export interface RequestJournal {
  /** The journal file's path. */
  readonly path: string;
  /**
   * Claims the hub's own journal and any claimed file left in the dir, compacts them into a fresh journal and
   * returns the unfinished requests in arrival order.
   */
  open(): Promise<JournaledRequest[]>;
  /**
   * Adds a request; `committed` resolves once it is on disk (fdatasync), rejects when the write failed.
   * The returned object is the live record (`targets` grows with `target`, `attempts` with `attempt`).
   */
  add(req: Omit<JournaledRequest, 'seq' | 'targets' | 'attempts'>): {
    request: JournaledRequest;
    committed: Promise<void>;
  };
  /** Counts one more start of request `seq`; resolves once that is on disk (a crash loop must count). */
  attempt(seq: number): Promise<void>;
  /**
   * Records that `target` of request `seq` has the audio (written with the next group commit); resolves once
   * the record is written to the file (it then survives a killed hub; the fdatasync for a power cut follows),
   * rejects when the write failed. Awaited right before an all-or-nothing delivery, so the window in which a
   * killed hub leaves a target recorded but not served is the time between two system calls.
   */
  target(seq: number, target: string): Promise<void>;
  /** Takes back a target record (its delivery failed after all). */
  untarget(seq: number, target: string): void;
  /** Marks request `seq` finished (written with the next group commit). */
  done(seq: number): void;
  /** True when `key` is an unfinished request or one of the last RECENT_KEYS finished ones. */
  knows(key: string): boolean;
  /**
   * Claims another hub's journal at `path` (renamed into this dir), adds its unfinished requests that this
   * journal does not know, with their attempts and targets, and resolves with them once they are on disk.
   * Resolves with [] when the file is gone (its hub or another one claimed it first).
   */
  takeOver(path: string): Promise<JournaledRequest[]>;
  /** True when the file at `path` is no longer the one this journal writes (another hub claimed it). */
  stolen(): Promise<boolean>;
  /**
   * After `stolen()`: forgets the unfinished requests `keep` refuses (the hub that claimed the file runs them)
   * and writes the rest to a fresh file at `path`.
   */
  rebuild(keep: (r: JournaledRequest) => boolean): Promise<void>;
  /** Unfinished requests. */
  pending(): number;
  /** fdatasync calls so far (group commit: far fewer than records in a burst). */
  syncs(): number;
  /** Writes what is buffered and closes the file. */
  close(): Promise<void>;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  /** Resolve once the bytes are written (in the page cache: they survive a killed process), before the sync. */
  onWrite?: boolean;
}

/** A unique name for a claimed file in the journal's dir. */
function claimName(what: string): string {
  return `${what}-${Date.now()}-${randomBytes(4).toString('hex')}${CLAIM_SUFFIX}`;
}

/** Renames `from` to `to`; false when `from` is gone (someone claimed it first). */
async function claim(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Creates the journal in `dir`; nothing is read until `open()`. */
export function createRequestJournal(opts: { dir: string; log: Log }): RequestJournal {
  const path = join(opts.dir, JOURNAL_FILE);
  const live = new Map<number, JournaledRequest>();
  const liveKeys = new Set<string>();
  const recent = new Set<string>();
  let seq = 0;
  let fh: FileHandle | undefined;
  let buffer: string[] = [];
  let waiters: Waiter[] = [];
  let writing: Promise<void> | undefined;
  let appended = 0;
  let syncs = 0;

  const remember = (key: string): void => {
    recent.delete(key);
    recent.add(key);
    if (recent.size > RECENT_KEYS) recent.delete(recent.values().next().value as string);
  };

  const compact = async (): Promise<void> => {
    const lines: string[] = [];
    for (const key of recent) lines.push(`${JSON.stringify({ s: key })}\n`);
    for (const r of live.values()) lines.push(...liveLines(r));
    const tmp = `${path}.tmp`;
    const out = await open(tmp, 'w');
    try {
      await out.write(lines.join(''));
      await out.datasync();
    } finally {
      await out.close();
    }
    await fh?.close();
    await rename(tmp, path);
    fh = await open(path, 'a');
    appended = 0;
  };

  const writeLoop = async (): Promise<void> => {
    // One turn of the event loop first, so records added in the same tick share the first sync.
    await new Promise((r) => setImmediate(r));
    while (buffer.length) {
      const lines = buffer;
      const batch = waiters;
      buffer = [];
      waiters = [];
      try {
        if (!fh) throw new Error('request journal is not open');
        const text = lines.join('');
        await fh.write(text);
        for (const w of batch) if (w.onWrite) w.resolve();
        await fh.datasync();
        syncs++;
        appended += Buffer.byteLength(text);
        for (const w of batch) if (!w.onWrite) w.resolve();
      } catch (err) {
        opts.log.error({ err: (err as Error).message, path }, 'request journal write failed');
        for (const w of batch) w.reject(err);
      }
      if (appended >= COMPACT_AFTER_BYTES) {
        await compact().catch((err) =>
          opts.log.error({ err: (err as Error).message, path }, 'request journal compaction failed'),
        );
      }
    }
    writing = undefined;
  };

  const append = (text: string, onWrite = false): Promise<void> => {
    buffer.push(text);
    const done = new Promise<void>((resolve, reject) => waiters.push({ resolve, reject, onWrite }));
    writing ??= writeLoop();
    return done;
  };
  const appendQuietly = (line: string): void => {
    append(line).catch(() => {}); // logged by the writer
  };

  /** Adopts `r` under a new seq unless its key is known; returns the adopted record. */
  const adopt = (r: JournaledRequest): JournaledRequest | undefined => {
    if (liveKeys.has(r.key) || recent.has(r.key)) return undefined;
    const own: JournaledRequest = { ...r, seq: ++seq, targets: new Set(r.targets) };
    live.set(own.seq, own);
    liveKeys.add(own.key);
    return own;
  };

  /** Reads a claimed file into memory: finished keys first, then unfinished requests. */
  const importFile = async (file: string): Promise<JournaledRequest[]> => {
    const contents = await readJournal(file);
    if (contents.torn)
      opts.log.warn({ path: file, lines: contents.torn }, 'request journal: torn lines ignored');
    for (const key of contents.finished) remember(key);
    const adopted: JournaledRequest[] = [];
    for (const r of [...contents.live.values()].sort((a, b) => a.seq - b.seq)) {
      const own = adopt(r);
      if (own) adopted.push(own);
    }
    return adopted;
  };

  return {
    path,
    async open() {
      await mkdir(opts.dir, { recursive: true });
      await claim(path, join(opts.dir, claimName('own')));
      await rm(`${path}.tmp`, { force: true });
      const claimed = (await readdir(opts.dir)).filter((n) => n.endsWith(CLAIM_SUFFIX)).sort();
      for (const name of claimed) await importFile(join(opts.dir, name));
      await compact();
      // The fresh journal holds everything now: the claimed files can go.
      for (const name of claimed) await unlink(join(opts.dir, name)).catch(() => {});
      if (live.size)
        opts.log.info({ pending: live.size, path }, 'request journal: unfinished requests found');
      return [...live.values()].sort((a, b) => a.seq - b.seq);
    },
    add(req) {
      const request: JournaledRequest = { ...req, seq: ++seq, targets: new Set(), attempts: 0 };
      live.set(request.seq, request);
      liveKeys.add(request.key);
      return { request, committed: append(requestLine(request)) };
    },
    attempt(s) {
      const r = live.get(s);
      if (!r) return Promise.resolve();
      r.attempts++;
      return append(`${JSON.stringify({ a: s })}\n`);
    },
    target(s, target) {
      const r = live.get(s);
      if (!r || r.targets.has(target)) return Promise.resolve();
      r.targets.add(target);
      return append(`${JSON.stringify({ g: s, n: target })}\n`, true);
    },
    untarget(s, target) {
      const r = live.get(s);
      if (!r?.targets.delete(target)) return;
      appendQuietly(`${JSON.stringify({ x: s, n: target })}\n`);
    },
    done(s) {
      const r = live.get(s);
      if (!r) return;
      live.delete(s);
      liveKeys.delete(r.key);
      remember(r.key);
      appendQuietly(`${JSON.stringify({ d: s })}\n`);
    },
    knows: (key) => liveKeys.has(key) || recent.has(key),
    async takeOver(foreign) {
      const file = join(opts.dir, claimName('takeover'));
      if (!(await claim(foreign, file))) return [];
      const adopted = await importFile(file);
      if (adopted.length) await append(adopted.flatMap(liveLines).join(''));
      await unlink(file);
      return adopted;
    },
    async stolen() {
      if (!fh) return false;
      try {
        const [mine, there] = await Promise.all([fh.stat(), stat(path)]);
        return mine.ino !== there.ino || mine.dev !== there.dev;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
        throw err;
      }
    },
    async rebuild(keep) {
      while (writing) await writing;
      for (const r of [...live.values()]) {
        if (keep(r)) continue;
        live.delete(r.seq);
        liveKeys.delete(r.key);
        remember(r.key);
      }
      await compact();
    },
    pending: () => live.size,
    syncs: () => syncs,
    async close() {
      while (writing) await writing;
      await fh?.close();
      fh = undefined;
    },
  };
}
