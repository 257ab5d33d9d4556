/**
 * Recording names and paths. Every path under `<share>/recordings` is built here, and only from a device name and
 * an id that passed {@link checkDevice} / {@link checkId}: no path is ever built from unchecked input.
 *
 * Layout (DESIGN "Files on the share volume"):
 * `<share>/recordings/<device>/<YYYY-MM-DD>/<HH-MM-SS>_<id>.partial.opus` while recording, `.opus` when finished,
 * `.wav` sidecar alongside. Date and time are UTC, so a name maps back to one instant.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { AudioFormat } from '../audio/format.js';
import { AppError } from '../shared/errors.js';

/** What device names and recording ids must match (DESIGN MQTT `recorder/<device>/...`). */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The kinds of file a recording leaves on disk. */
export type RecordingFileKind = 'partial' | 'final' | 'sidecar' | 'temp';

const SUFFIX: Record<RecordingFileKind, string> = {
  partial: '.partial.opus',
  final: '.opus',
  sidecar: '.wav',
  temp: '.tmp.opus',
};

/** File name of a recording file: `<HH-MM-SS>_<id>` plus the kind's suffix. */
const FILE_PATTERN =
  /^(\d{2})-(\d{2})-(\d{2})_([A-Za-z0-9_-]{1,64})(\.partial\.opus|\.tmp\.opus|\.opus|\.wav)$/;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Returns `device` when it matches {@link NAME_PATTERN}.
 * @throws AppError INVALID_DEVICE otherwise.
 */
export function checkDevice(device: string): string {
  if (typeof device !== 'string' || !NAME_PATTERN.test(device)) {
    throw new AppError(
      'INVALID_DEVICE',
      `device name '${String(device).slice(0, 80)}' refused; use 1-64 letters, digits, '_' or '-'`,
    );
  }
  return device;
}

/**
 * Returns `id` when it matches {@link NAME_PATTERN}.
 * @throws AppError BAD_PAYLOAD otherwise.
 */
export function checkId(id: string): string {
  if (typeof id !== 'string' || !NAME_PATTERN.test(id)) {
    throw new AppError(
      'BAD_PAYLOAD',
      `recording id '${String(id).slice(0, 80)}' refused; use 1-64 letters, digits, '_' or '-'`,
    );
  }
  return id;
}

const FORMAT_WIDTHS = new Set([1, 2, 4]);
/** Highest sample rate a recording may have, in Hz (microphones send 16 kHz; studio gear 48 kHz). */
export const MAX_RATE_HZ = 48_000;
/** Most channels a recording may have. */
export const MAX_CHANNELS = 2;

/**
 * Returns `format` when it is PCM the recorder takes: 1000-48000 Hz, 1, 2 or 4 bytes a sample, 1-2 channels.
 * @throws AppError BAD_PAYLOAD otherwise.
 */
export function checkFormat(format: AudioFormat): AudioFormat {
  const ok =
    Number.isInteger(format.rateHz) &&
    format.rateHz >= 1000 &&
    format.rateHz <= MAX_RATE_HZ &&
    FORMAT_WIDTHS.has(format.widthBytes) &&
    Number.isInteger(format.channels) &&
    format.channels >= 1 &&
    format.channels <= MAX_CHANNELS;
  if (!ok) {
    throw new AppError(
      'BAD_PAYLOAD',
      `audio format ${JSON.stringify(format)} refused; rate 1000-${MAX_RATE_HZ} Hz, width 1, 2 or 4 bytes, 1-${MAX_CHANNELS} channels`,
    );
  }
  return format;
}

/** A fresh recording id: 12 lowercase hex digits. */
export function newRecordingId(): string {
  return randomBytes(6).toString('hex');
}

/** Where one recording lives: its folder and base name (without suffix), both under the share's recordings dir. */
export interface RecordingLocation {
  device: string;
  id: string;
  /** Start instant, whole seconds (the file name has no finer precision). */
  startedAt: Date;
  /** Absolute folder `<share>/recordings/<device>/<YYYY-MM-DD>`. */
  dir: string;
  /** `<HH-MM-SS>_<id>`. */
  base: string;
}

/** `<share>/recordings`. */
export function recordingsRoot(shareDir: string): string {
  return join(shareDir, 'recordings');
}

/**
 * The location of a recording of checked `device` and `id` started at `startedAt`.
 * @throws AppError INVALID_DEVICE / BAD_PAYLOAD for unchecked names.
 */
export function locate(shareDir: string, device: string, id: string, startedAt: Date): RecordingLocation {
  checkDevice(device);
  checkId(id);
  const iso = startedAt.toISOString();
  const day = iso.slice(0, 10);
  const time = iso.slice(11, 19).replaceAll(':', '-');
  const whole = new Date(`${day}T${iso.slice(11, 19)}Z`);
  return {
    device,
    id,
    startedAt: whole,
    dir: join(recordingsRoot(shareDir), device, day),
    base: `${time}_${id}`,
  };
}

/** Absolute path of one file of a recording. */
export function filePath(loc: RecordingLocation, kind: RecordingFileKind): string {
  return join(loc.dir, `${loc.base}${SUFFIX[kind]}`);
}

/** A recording file name understood by {@link parseFileName}. */
export interface ParsedFileName {
  id: string;
  kind: RecordingFileKind;
  /** `<HH-MM-SS>_<id>`. */
  base: string;
  /** Start instant from the date folder and the time in the name. */
  startedAt: Date;
}

/**
 * Reads a file name found in a `<YYYY-MM-DD>` folder back into id, kind and start time; undefined for anything
 * that is not a recording file (so stray files are never touched).
 */
export function parseFileName(day: string, name: string): ParsedFileName | undefined {
  const d = DATE_PATTERN.exec(day);
  const m = FILE_PATTERN.exec(name);
  if (!d || !m) return undefined;
  const startedAt = new Date(`${day}T${m[1]}:${m[2]}:${m[3]}Z`);
  if (Number.isNaN(startedAt.getTime())) return undefined;
  const suffix = m[5];
  const kind = (Object.keys(SUFFIX) as RecordingFileKind[]).find((k) => SUFFIX[k] === suffix);
  if (!kind || !m[4]) return undefined;
  return { id: m[4], kind, base: `${m[1]}-${m[2]}-${m[3]}_${m[4]}`, startedAt };
}
