/**
 * The one translation of file-system errors into the error catalogue (shared/errors.ts): a full disk or an
 * exhausted quota (ENOSPC, EDQUOT) is DISK_FULL, anything else the area's I/O code, STORAGE_IO (recordings and
 * other files on the share) or CACHE_IO (the audio cache, whose fixes are the `cache.*` options). The original
 * error is kept as `cause`; an AppError is passed through unchanged.
 */
import { AppError } from './errors.js';

/** errno codes that mean the disk or the user's quota is full (Linux `errno(3)`). */
const FULL_ERRNOS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/** Whose files failed: the audio cache (CACHE_IO) or any other storage on the share (STORAGE_IO). */
export type FsArea = 'cache' | 'storage';

/** How {@link fsError} words and codes an error. */
export interface FsErrorOptions {
  /** `cache` → CACHE_IO, `storage` (default) → STORAGE_IO for errors other than a full disk. */
  area?: FsArea;
  /** What the user can do when the disk is full; default: free space on the share volume. */
  fullHint?: string;
}

/**
 * Translates a file-system error met while trying to `action` (a verb: `write`, `commit`, `delete`, `scan`)
 * the file or folder `path`.
 * @returns AppError DISK_FULL for ENOSPC/EDQUOT, else CACHE_IO or STORAGE_IO (see {@link FsErrorOptions.area}),
 *   with `err` as cause; `err` itself when it is already an AppError.
 */
export function fsError(err: unknown, action: string, path: string, opts: FsErrorOptions = {}): AppError {
  if (err instanceof AppError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && FULL_ERRNOS.has(code)) {
    const hint = opts.fullHint ?? 'free space on the share volume';
    return new AppError('DISK_FULL', `disk full while trying to ${action} '${path}'; ${hint}`, {
      cause: err,
      details: { path, errno: code },
    });
  }
  const reason = err instanceof Error ? err.message : String(err);
  const cache = opts.area === 'cache';
  return new AppError(
    cache ? 'CACHE_IO' : 'STORAGE_IO',
    `${cache ? 'cache' : 'storage'} could not ${action} '${path}': ${reason}`,
    { cause: err, details: { path, ...(typeof code === 'string' ? { errno: code } : {}) } },
  );
}
