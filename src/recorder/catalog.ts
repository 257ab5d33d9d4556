/**
 * Reads the recordings folder back: which recordings exist, which files each one left (final, partial, sidecar,
 * temp). Only names that {@link parseFileName} accepts are returned, so stray files are never touched.
 */

import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { oggOpusFileDurationMs } from '../audio/ogg.js';
import {
  NAME_PATTERN,
  parseFileName,
  type RecordingFileKind,
  type RecordingLocation,
  recordingsRoot,
} from './names.js';
import type { RecordingInfo } from './status.js';

/** The files one recording left on disk. */
export interface RecordingFiles {
  loc: RecordingLocation;
  kinds: Set<RecordingFileKind>;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Every recording under `<share>/recordings`, grouped by base name.
 * @throws the fs error when the folder exists but cannot be read.
 */
export async function scanRecordingFiles(shareDir: string): Promise<RecordingFiles[]> {
  const root = recordingsRoot(shareDir);
  const found = new Map<string, RecordingFiles>();
  for (const device of await listDir(root)) {
    if (!NAME_PATTERN.test(device)) continue;
    for (const day of await listDir(join(root, device))) {
      const dir = join(root, device, day);
      for (const name of await listDir(dir)) {
        const parsed = parseFileName(day, name);
        if (!parsed) continue;
        const key = join(dir, parsed.base);
        let entry = found.get(key);
        if (!entry) {
          entry = {
            loc: { device, id: parsed.id, startedAt: parsed.startedAt, dir, base: parsed.base },
            kinds: new Set(),
          };
          found.set(key, entry);
        }
        entry.kinds.add(parsed.kind);
      }
    }
  }
  return [...found.values()];
}

/**
 * Describes the finished recording at `path` (size, duration from the Ogg granule, end time = mtime), or
 * undefined when the file has gone.
 */
export async function describeFinished(
  shareDir: string,
  loc: RecordingLocation,
  path: string,
): Promise<RecordingInfo | undefined> {
  try {
    const s = await stat(path);
    return {
      id: loc.id,
      device: loc.device,
      path,
      file: relative(shareDir, path),
      inProgress: false,
      bytes: s.size,
      durationMs: Math.round((await oggOpusFileDurationMs(path)) ?? 0),
      startedAt: loc.startedAt,
      endedAt: s.mtime,
    };
  } catch {
    return undefined;
  }
}
