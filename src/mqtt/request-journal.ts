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
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../shared/log.js';
import { type JournaledRequest, liveLines, requestLine } from './journal-file.js';
import {
  appendQuietly,
  appendRecord,
  compactJournal,
  createJournalState,
  drainJournal,
  importJournalFile,
  type JournalState,
  retire,
} from './journal-writer.js';

export { deliveryKey, type JournaledRequest } from './journal-file.js';
export { COMPACT_AFTER_BYTES, RECENT_KEYS } from './journal-writer.js';

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
  /**
   * Marks request `seq` finished (written with the next group commit, without an fdatasync of its own: a power
   * cut may lose it, and the request is then replayed once more).
   */
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

/**
 * `RequestJournal.open()` of the journal in `dir`: claims its own file and imports it with any claimed file
 * left in `dir`, compacts them into a fresh journal and resolves with the unfinished requests in arrival order.
 * @throws the file system's error (creating `dir`, renaming, reading, writing).
 */
async function openJournal(s: JournalState, dir: string): Promise<JournaledRequest[]> {
  await mkdir(dir, { recursive: true });
  await claim(s.path, join(dir, claimName('own')));
  await rm(`${s.path}.tmp`, { force: true });
  const claimed = (await readdir(dir)).filter((n) => n.endsWith(CLAIM_SUFFIX)).sort();
  for (const name of claimed) await importJournalFile(s, join(dir, name));
  await compactJournal(s);
  // The fresh journal holds everything now: the claimed files can go.
  for (const name of claimed) await unlink(join(dir, name)).catch(() => {});
  if (s.live.size)
    s.log.info({ pending: s.live.size, path: s.path }, 'request journal: unfinished requests found');
  return [...s.live.values()].sort((a, b) => a.seq - b.seq);
}

/** `RequestJournal.takeOver(foreign)`: claims the file into `dir`, adopts and journals its unknown requests. */
async function takeOverJournal(s: JournalState, dir: string, foreign: string): Promise<JournaledRequest[]> {
  const file = join(dir, claimName('takeover'));
  if (!(await claim(foreign, file))) return [];
  const adopted = await importJournalFile(s, file);
  if (adopted.length) await appendRecord(s, adopted.flatMap(liveLines).join(''));
  await unlink(file);
  return adopted;
}

/** `RequestJournal.stolen()`: true when the file at the journal's path is not the one open here. */
async function journalStolen(s: JournalState): Promise<boolean> {
  if (!s.fh) return false;
  try {
    const [mine, there] = await Promise.all([s.fh.stat(), stat(s.path)]);
    return mine.ino !== there.ino || mine.dev !== there.dev;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/** Creates the journal in `dir`; nothing is read until `open()`. */
export function createRequestJournal(opts: { dir: string; log: Log }): RequestJournal {
  const s = createJournalState(join(opts.dir, JOURNAL_FILE), opts.log);
  return {
    path: s.path,
    open: () => openJournal(s, opts.dir),
    add(req) {
      const request: JournaledRequest = { ...req, seq: ++s.seq, targets: new Set(), attempts: 0 };
      s.live.set(request.seq, request);
      s.liveKeys.add(request.key);
      return { request, committed: appendRecord(s, requestLine(request)) };
    },
    attempt(seq) {
      const r = s.live.get(seq);
      if (!r) return Promise.resolve();
      r.attempts++;
      return appendRecord(s, `${JSON.stringify({ a: seq })}\n`);
    },
    target(seq, target) {
      const r = s.live.get(seq);
      if (!r || r.targets.has(target)) return Promise.resolve();
      r.targets.add(target);
      return appendRecord(s, `${JSON.stringify({ g: seq, n: target })}\n`, 'written');
    },
    untarget(seq, target) {
      const r = s.live.get(seq);
      if (!r?.targets.delete(target)) return;
      appendQuietly(s, `${JSON.stringify({ x: seq, n: target })}\n`);
    },
    done(seq) {
      const r = s.live.get(seq);
      if (!r) return;
      retire(s, r);
      // Written, not fdatasynced (issue 13: one thread-pool round trip less per say). A killed hub keeps it (the
      // page cache survives); a power cut may lose it, and the request is then replayed: at-least-once allows that,
      // and its synced target records keep a replay from playing to a target again.
      appendQuietly(s, `${JSON.stringify({ d: seq })}\n`, 'unsynced');
    },
    knows: (key) => s.liveKeys.has(key) || s.recent.has(key),
    takeOver: (foreign) => takeOverJournal(s, opts.dir, foreign),
    stolen: () => journalStolen(s),
    async rebuild(keep) {
      await drainJournal(s);
      for (const r of [...s.live.values()]) if (!keep(r)) retire(s, r);
      await compactJournal(s);
    },
    pending: () => s.live.size,
    syncs: () => s.syncs,
    async close() {
      await drainJournal(s);
      await s.fh?.close();
      s.fh = undefined;
    },
  };
}
