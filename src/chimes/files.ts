/**
 * Chime files on disk: finding a chime's file by name, listing the chime names in a folder, and hashing a
 * file's content once per change (the hash names the chime in cache keys; library.ts).
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { AppError } from '../shared/errors.js';

/** File extensions a chime may have, in lookup order. */
export const CHIME_EXTENSIONS = ['ogg', 'mp3', 'wav', 'flac'] as const;
/** A chime name: the file name without its extension. */
export const CHIME_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A file's content hash and the stamp it was taken at. */
interface Hashed {
  /** inode, size, mtime and ctime (ns) joined: the file is re-read when this changes. */
  stamp: string;
  hash: string;
}

/** Content hashes by file path (at most MAX_HASHES; emptied when full). */
export type HashMemo = Map<string, Hashed>;

/** Most file hashes remembered (one per chime file seen). */
const MAX_HASHES = 1000;

/** The file of chime `name` in `dir` (the first of CHIME_EXTENSIONS that is a file) with its stat, or undefined. */
export async function findChimeFile(
  dir: string,
  name: string,
): Promise<{ path: string; st: BigIntStats } | undefined> {
  for (const ext of CHIME_EXTENSIONS) {
    const path = join(dir, `${name}.${ext}`);
    const st = await stat(path, { bigint: true }).catch(() => undefined);
    if (st?.isFile()) return { path, st };
  }
  return undefined;
}

/**
 * SHA-256 (64 lowercase hex digits) of the file at `path`, read again only when its stamp in `st` moved.
 * @throws AppError CHIME_INVALID when the file cannot be read.
 */
export async function hashChimeFile(
  memo: HashMemo,
  name: string,
  path: string,
  st: BigIntStats,
): Promise<string> {
  const stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  const known = memo.get(path);
  if (known?.stamp === stamp) return known.hash;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new AppError('CHIME_INVALID', `chime '${name}' cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const hash = createHash('sha256').update(bytes).digest('hex');
  if (memo.size >= MAX_HASHES) memo.clear();
  memo.set(path, { stamp, hash });
  return hash;
}

/** Chime names found in `dir` → their file names (valid names and extensions only; first extension wins). */
export async function namesIn(dir: string): Promise<Map<string, string>> {
  const files = await readdir(dir).catch(() => [] as string[]);
  const found = new Map<string, string>();
  for (const file of files.sort()) {
    const ext = extname(file).slice(1).toLowerCase();
    const name = file.slice(0, -(ext.length + 1));
    if (!(CHIME_EXTENSIONS as readonly string[]).includes(ext) || !CHIME_NAME.test(name)) continue;
    if (!found.has(name)) found.set(name, file);
  }
  return found;
}
