/**
 * Start-up recovery: every recording a crash left unfinished (a stale `.partial.opus`, or a sidecar without an
 * `.opus`) becomes a finished `.opus`. From the WAV sidecar when there is one (its header sizes repaired first),
 * else by keeping the decodable part of the partial Ogg file. Leftover temp files are removed.
 */
import { rename, stat, unlink } from 'node:fs/promises';
import { recordingFileEncoderArgs, remuxArgs } from '../audio/ffmpeg-args.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { describeFinished, type RecordingFiles } from './catalog.js';
import { runFfmpegToEnd } from './encoder.js';
import { filePath } from './names.js';
import { fsyncFile } from './session.js';
import { repairSidecar } from './sidecar.js';
import type { RecordingInfo } from './status.js';

/** One recording recovered at start-up. */
export interface RecoveredRecording {
  info: RecordingInfo;
  /** True when encoded from the sidecar; false when the partial Ogg file was kept. */
  fromSidecar: boolean;
}

/** A stale recording that could not be recovered (its files stay for the next attempt). */
export interface RecoveryFailure {
  device: string;
  id: string;
  error: AppError;
}

/** What {@link recoverStale} did. */
export interface RecoveryOutcome {
  recovered: RecoveredRecording[];
  failed: RecoveryFailure[];
}

/** Options of {@link recoverStale}. */
export interface RecoveryOptions {
  shareDir: string;
  bitrateKbps: number;
  keepWav: boolean;
  log: Log;
  signal?: AbortSignal;
}

const drop = (path: string): Promise<void> => unlink(path).catch(() => {});

/** True when `entry` left something to recover (no `.opus`, but a partial file or a sidecar). */
function isStale(entry: RecordingFiles): boolean {
  return !entry.kinds.has('final') && (entry.kinds.has('partial') || entry.kinds.has('sidecar'));
}

/** Removes what a finished recording no longer needs: temp files, a partial beside the final, an unwanted sidecar. */
async function tidy(entry: RecordingFiles, keepWav: boolean): Promise<void> {
  if (entry.kinds.has('temp')) await drop(filePath(entry.loc, 'temp'));
  if (!entry.kinds.has('final')) return;
  if (entry.kinds.has('partial')) await drop(filePath(entry.loc, 'partial'));
  if (entry.kinds.has('sidecar') && !keepWav) await drop(filePath(entry.loc, 'sidecar'));
}

/** Produces the temp `.opus` of a stale entry; returns whether it came from the sidecar, or undefined if empty. */
async function encodeStale(entry: RecordingFiles, opts: RecoveryOptions): Promise<boolean | undefined> {
  const temp = filePath(entry.loc, 'temp');
  if (entry.kinds.has('sidecar')) {
    const sidecar = filePath(entry.loc, 'sidecar');
    const repaired = await repairSidecar(sidecar);
    if (repaired && repaired.dataBytes > 0) {
      await runFfmpegToEnd(recordingFileEncoderArgs(sidecar, opts.bitrateKbps, temp), opts.signal);
      return true;
    }
  }
  if (!entry.kinds.has('partial')) return undefined;
  const partial = filePath(entry.loc, 'partial');
  if ((await stat(partial)).size === 0) return undefined;
  await runFfmpegToEnd(remuxArgs(partial, temp), opts.signal);
  return false;
}

/** Recovers one stale entry; undefined when it held no audio at all (its files are removed). */
async function recoverOne(
  entry: RecordingFiles,
  opts: RecoveryOptions,
): Promise<RecoveredRecording | undefined> {
  const temp = filePath(entry.loc, 'temp');
  const final = filePath(entry.loc, 'final');
  const fromSidecar = await encodeStale(entry, opts);
  if (fromSidecar === undefined) {
    await drop(filePath(entry.loc, 'partial'));
    await drop(filePath(entry.loc, 'sidecar'));
    return undefined;
  }
  await fsyncFile(temp);
  await rename(temp, final);
  await drop(filePath(entry.loc, 'partial'));
  if (!opts.keepWav) await drop(filePath(entry.loc, 'sidecar'));
  const info = await describeFinished(opts.shareDir, entry.loc, final);
  if (!info) throw new AppError('CACHE_IO', `recovered file ${final} vanished`);
  return { info, fromSidecar };
}

/**
 * Recovers every stale recording in `entries` (from {@link scanRecordingFiles}) one after another and tidies
 * finished ones. Never throws for one bad recording: it is reported in `failed` and its files stay.
 * Aborting `signal` stops ffmpeg and reports the rest as failed with ABORTED.
 */
export async function recoverStale(
  entries: RecordingFiles[],
  opts: RecoveryOptions,
): Promise<RecoveryOutcome> {
  const outcome: RecoveryOutcome = { recovered: [], failed: [] };
  for (const entry of entries) {
    const { device, id } = entry.loc;
    try {
      if (!isStale(entry)) {
        await tidy(entry, opts.keepWav);
        continue;
      }
      if (opts.signal?.aborted) throw new AppError('ABORTED', 'recovery aborted');
      if (entry.kinds.has('temp')) await drop(filePath(entry.loc, 'temp'));
      const recovered = await recoverOne(entry, opts);
      if (recovered) {
        outcome.recovered.push(recovered);
        opts.log.info(
          { device, id, fromSidecar: recovered.fromSidecar, durationMs: recovered.info.durationMs },
          'recording recovered',
        );
      } else {
        opts.log.info({ device, id }, 'empty stale recording removed');
      }
    } catch (err) {
      await drop(filePath(entry.loc, 'temp'));
      const error = toAppError(err, 'FFMPEG_FAILED');
      outcome.failed.push({ device, id, error });
      opts.log.error({ device, id, code: error.code, err: error.message }, 'recording recovery failed');
    }
  }
  return outcome;
}
