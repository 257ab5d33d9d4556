/**
 * The index of finished recordings (`.opus` files on the share): loaded from disk at start, looked up by id,
 * deleted one by one or by the retention policy. Recordings in progress are never here.
 */
import { rmdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { describeFinished, type RecordingFiles } from './catalog.js';
import { filePath } from './names.js';
import { type RetentionLimits, selectForPruning } from './retention.js';
import type { RecordingInfo } from './status.js';

/** What {@link FinishedRecordings.prune} deleted: recording ids, oldest first, and the bytes freed. */
export interface PruneResult {
  deleted: string[];
  freedBytes: number;
}

/** The finished recordings, by id. */
export class FinishedRecordings {
  private readonly byId = new Map<string, RecordingInfo>();

  constructor(private readonly log: Log) {}

  /** How many finished recordings there are. */
  get size(): number {
    return this.byId.size;
  }

  /** Bytes of all finished recordings. */
  get bytes(): number {
    let sum = 0;
    for (const info of this.byId.values()) sum += info.bytes;
    return sum;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): RecordingInfo | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<RecordingInfo> {
    return this.byId.values();
  }

  /** Adds (or replaces) a finished recording. */
  add(info: RecordingInfo): void {
    this.byId.set(info.id, info);
  }

  /** Adds every entry of a scan (from {@link scanRecordingFiles}) that has its `.opus`. */
  async load(shareDir: string, entries: readonly RecordingFiles[]): Promise<void> {
    for (const entry of entries) {
      if (!entry.kinds.has('final')) continue;
      const info = await describeFinished(shareDir, entry.loc, filePath(entry.loc, 'final'));
      if (info) this.add(info);
    }
  }

  /**
   * Deletes a finished recording's files (its sidecar too, and its day folder when empty) and forgets it.
   * @throws AppError STORAGE_IO when the `.opus` exists but cannot be deleted.
   */
  async remove(info: RecordingInfo): Promise<void> {
    this.byId.delete(info.id);
    await unlink(info.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT')
        throw new AppError('STORAGE_IO', `cannot delete ${info.file}: ${err.message}`);
    });
    await unlink(info.path.replace(/\.opus$/, '.wav')).catch(() => {});
    await rmdir(dirname(info.path)).catch(() => {});
    this.log.info({ device: info.device, id: info.id, bytes: info.bytes }, 'recording deleted');
  }

  /**
   * Deletes what the retention `limits` select at `now` (see {@link selectForPruning}); `inProgressBytes`
   * counts towards the size limit. A recording that cannot be deleted is logged and skipped.
   */
  async prune(limits: RetentionLimits, now: Date, inProgressBytes: number): Promise<PruneResult> {
    const chosen = selectForPruning([...this.byId.values()], limits, now, inProgressBytes);
    const result: PruneResult = { deleted: [], freedBytes: 0 };
    for (const info of chosen) {
      try {
        await this.remove(info);
        result.deleted.push(info.id);
        result.freedBytes += info.bytes;
      } catch (err) {
        this.log.error(
          { id: info.id, err: (err as Error).message },
          'retention could not delete a recording',
        );
      }
    }
    if (result.deleted.length > 0) {
      this.log.info(
        { count: result.deleted.length, bytes: result.freedBytes },
        'retention pruned recordings',
      );
    }
    return result;
  }
}
