/**
 * Which hub a recording in progress belongs to, when several hubs record into one share volume (issue 15).
 * Each hub keeps a registry of its recordings in progress, `<share>/.data/recordings/<hub id>.live`, one line
 * each: `+<device>/<day>/<base>` before the recording's first file is created, `-<...>` once it is finished.
 * At start a hub recovers only the stale recordings (a `.partial.opus` without its `.opus`) that are its own or
 * nobody's (a single-hub setup, or files from before the registry); a partial file listed by another hub is
 * that hub's, in progress or waiting for that hub to come back and recover it. One writer per file (no locking,
 * also on NFS and SMB); the file is opened, appended and closed per line, so other hubs read it fresh.
 */
import { appendFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Log } from '../shared/log.js';
import type { RecordingFiles } from './catalog.js';
import { type RecordingLocation, recordingsRoot } from './names.js';

/** The registry as the recorder uses it. */
export interface RecordingOwner {
  /**
   * The stale recordings of `entries` this hub recovers (its own and nobody's); also starts its registry afresh
   * (what it listed is recovered now). Logs those left to other hubs.
   */
  claimable(entries: RecordingFiles[]): Promise<RecordingFiles[]>;
  /** Lists a recording as this hub's before its files exist. */
  opened(loc: RecordingLocation): Promise<void>;
  /** Takes a finished recording off the list. */
  closed(loc: RecordingLocation): void;
}

/** The registry folder inside the share volume. */
export function registryDir(shareDir: string): string {
  return join(shareDir, '.data', 'recordings');
}

/** Open recordings of one registry's text: `+x` adds, `-x` removes. */
export function openInRegistry(text: string): Set<string> {
  const open = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('+')) open.add(line.slice(1));
    else if (line.startsWith('-')) open.delete(line.slice(1));
  }
  return open;
}

const isStale = (e: RecordingFiles): boolean =>
  !e.kinds.has('final') && (e.kinds.has('partial') || e.kinds.has('sidecar'));

/** Creates the registry of hub `hubId` in the share volume `shareDir`. */
export function createRecordingOwner(opts: { shareDir: string; hubId: string; log: Log }): RecordingOwner {
  const dir = registryDir(opts.shareDir);
  const own = join(dir, `${opts.hubId}.live`);
  const rel = (loc: RecordingLocation): string =>
    relative(recordingsRoot(opts.shareDir), join(loc.dir, loc.base));
  let chain: Promise<void> = Promise.resolve();
  const append = (line: string): Promise<void> => {
    chain = chain
      .then(() => appendFile(own, `${line}\n`))
      .catch((err) => opts.log.warn({ err: (err as Error).message }, 'recording registry write failed'));
    return chain;
  };

  return {
    async claimable(entries) {
      await mkdir(dir, { recursive: true });
      const mine = openInRegistry(await readFile(own, 'utf8').catch(() => ''));
      const others = new Map<string, string>();
      for (const name of await readdir(dir)) {
        if (!name.endsWith('.live') || join(dir, name) === own) continue;
        const text = await readFile(join(dir, name), 'utf8').catch(() => '');
        for (const r of openInRegistry(text)) others.set(r, name.slice(0, -'.live'.length));
      }
      const claimed: RecordingFiles[] = [];
      for (const e of entries) {
        const r = rel(e.loc);
        const owner = others.get(r);
        if (isStale(e) && owner !== undefined && !mine.has(r)) {
          opts.log.info(
            { device: e.loc.device, id: e.loc.id, hub: owner },
            'recording of another hub left to it',
          );
          continue;
        }
        claimed.push(e);
      }
      // What it listed is recovered now (or finished): start the registry afresh.
      const tmp = `${own}.tmp`;
      await writeFile(tmp, '');
      await rename(tmp, own);
      return claimed;
    },
    opened: (loc) => append(`+${rel(loc)}`),
    closed: (loc) => {
      void append(`-${rel(loc)}`);
    },
  };
}
