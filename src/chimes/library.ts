/**
 * The chime library: built-in chimes shipped beside this file (`builtin/*.ogg`, made by `builtin/make.sh`) and
 * user chimes in `<share>/chimes/` (`<name>.ogg|.mp3|.wav|.flac`; a user file replaces a built-in of the same
 * name). A chime is identified in cache keys by the SHA-256 of its file's bytes, so a replaced file never
 * serves old audio. The file is hashed once per change: each lookup stats it (a few µs) and reads it again
 * only when its inode, size, mtime or ctime moved. Its PCM is decoded with ffmpeg once per content and format
 * (chimes/decode.ts), never on a cache hit.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AudioFormat } from '../audio/format.js';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { type ChimeDecoder, createChimeDecoder } from './decode.js';
import { CHIME_NAME, findChimeFile, type HashMemo, hashChimeFile, namesIn } from './files.js';

export { CHIME_EXTENSIONS, CHIME_NAME } from './files.js';

/** Largest chime file read, in bytes: checked before reading or decoding (10 s of 48 kHz stereo WAV is 1.9 MB). */
export const CHIME_MAX_BYTES = 8 * 1024 * 1024;
/** The request value that asks for no chime (overrides a target's preset); an empty string means the same. */
export const NO_CHIME = 'none';
/** The folder of the built-in chimes (copied to dist/chimes/builtin by `npm run build`). */
export const BUILTIN_CHIMES_DIR: string = fileURLToPath(new URL('./builtin/', import.meta.url));

/** A chime a request uses: its file and the hash of its content. */
export interface ChimeRef {
  name: string;
  source: 'builtin' | 'user';
  path: string;
  bytes: number;
  /** SHA-256 of the file's bytes, 64 lowercase hex digits. */
  hash: string;
}

/** A chime as `GET /api/chimes` lists it. */
export interface ChimeInfo {
  name: string;
  source: 'builtin' | 'user';
  /** The file name, e.g. `ding.ogg`. */
  file: string;
  bytes: number;
  /** Length in ms, once known (decoded); undefined when the file is not valid. */
  durationMs?: number;
  /** Why the chime cannot be used (CHIME_INVALID message). */
  error?: string;
}

/** The chimes (see the module comment). */
export interface ChimeLibrary {
  /** `<share>/chimes`. */
  readonly userDir: string;
  /**
   * Creates the user folder so people can see where chime files go, then (in the background) decodes the chimes
   * named in `warm` at `format`, so the first announcement with them pays no decode; one that is unknown or
   * broken is logged once at warn (the options name it, so the user learns at start, not at the first request).
   */
  start(warm?: { names: string[]; format: AudioFormat }): Promise<void>;
  /** Stops a background warm-up. */
  stop(): void;
  /**
   * Every chime (at most MAX_LISTED_CHIMES), user chimes first (sorted by name), each with its length or the
   * reason it is unusable.
   */
  list(signal: AbortSignal): Promise<ChimeInfo[]>;
  /**
   * The chime called `name` with its content hash (hashed only when the file changed).
   * @throws AppError CHIME_NOT_FOUND listing the known chimes; CHIME_INVALID when the file is too large or
   *   unreadable.
   */
  resolve(name: string): Promise<ChimeRef>;
  /**
   * The chime's PCM in `format` (16-bit; mono or as asked), decoded once per content and format.
   * @throws AppError CHIME_INVALID (not audio, no audio, longer than the limit); the abort reason.
   */
  pcm(ref: ChimeRef, format: AudioFormat, signal: AbortSignal): Promise<Buffer>;
}

/** Options of the library. */
export interface ChimeLibraryOptions {
  /** `<share>/chimes`. */
  userDir: string;
  /** Default BUILTIN_CHIMES_DIR. */
  builtinDir?: string;
  /** Longest chime accepted, in ms (`chimes.max_duration_s`). */
  maxDurationMs: number;
  log: Log;
}

/** Most chimes `list` reports (each is decoded once to learn its length). */
export const MAX_LISTED_CHIMES = 200;

/** Creates the library; nothing is read until used. */
export function createChimeLibrary(opts: ChimeLibraryOptions): ChimeLibrary {
  const st: LibraryState = {
    opts,
    builtinDir: opts.builtinDir ?? BUILTIN_CHIMES_DIR,
    hashes: new Map(),
    decoder: createChimeDecoder({ maxDurationMs: opts.maxDurationMs }),
    stopping: new AbortController(),
  };
  return {
    userDir: opts.userDir,
    async start(warm) {
      await mkdir(opts.userDir, { recursive: true }).catch((err: unknown) =>
        opts.log.warn({ dir: opts.userDir, err: (err as Error).message }, 'cannot create the chimes folder'),
      );
      if (warm?.names.length) void warmUp(st, warm.names, warm.format);
    },
    stop: () => st.stopping.abort(new AppError('SHUTTING_DOWN', 'chime warm-up stopped')),
    list: (signal) => listChimes(st, signal),
    resolve: (name) => resolveChime(st, name),
    pcm: (ref, format, signal) => st.decoder.pcm(ref, format, signal),
  };
}

/** What the library's functions share. */
interface LibraryState {
  opts: ChimeLibraryOptions;
  builtinDir: string;
  /** Content hashes by path, re-read when the file's stamp moves. */
  hashes: HashMemo;
  decoder: ChimeDecoder;
  /** Aborted by stop(): ends a background warm-up. */
  stopping: AbortController;
}

/** Every chime name, user and built-in, sorted (for the CHIME_NOT_FOUND message). */
async function knownNames(st: LibraryState): Promise<string[]> {
  const [user, builtin] = await Promise.all([namesIn(st.opts.userDir), namesIn(st.builtinDir)]);
  return [...new Set([...user.keys(), ...builtin.keys()])].sort();
}

/** See ChimeLibrary.resolve. */
async function resolveChime(st: LibraryState, name: string): Promise<ChimeRef> {
  const { userDir } = st.opts;
  const found = CHIME_NAME.test(name)
    ? ((await findChimeFile(userDir, name).then((f) => f && { ...f, source: 'user' as const })) ??
      (await findChimeFile(st.builtinDir, name).then((f) => f && { ...f, source: 'builtin' as const })))
    : undefined;
  if (!found) {
    throw new AppError(
      'CHIME_NOT_FOUND',
      `chime '${name}' not found; known chimes: ${(await knownNames(st)).join(', ') || 'none'}; add your own as ${userDir}/<name>.ogg (or .mp3, .wav, .flac)`,
    );
  }
  const bytes = Number(found.st.size);
  if (bytes > CHIME_MAX_BYTES) {
    throw new AppError(
      'CHIME_INVALID',
      `chime '${name}' is ${bytes} bytes; chime files may have at most ${CHIME_MAX_BYTES} bytes`,
    );
  }
  if (bytes === 0) throw new AppError('CHIME_INVALID', `chime '${name}' is an empty file`);
  const hash = await hashChimeFile(st.hashes, name, found.path, found.st);
  return { name, source: found.source, path: found.path, bytes, hash };
}

/** Decodes the named chimes at `format` one after another; an unusable one is logged once at warn. */
async function warmUp(st: LibraryState, names: string[], format: AudioFormat): Promise<void> {
  const { signal } = st.stopping;
  for (const name of new Set(names)) {
    if (signal.aborted) return;
    try {
      await st.decoder.pcm(await resolveChime(st, name), format, signal);
    } catch (err) {
      if (signal.aborted) return;
      const e = err as AppError;
      st.opts.log.warn(
        { chime: name, code: e.code, err: e.message },
        'chime named in the options is unusable',
      );
    }
  }
}

/** See ChimeLibrary.list. */
async function listChimes(st: LibraryState, signal: AbortSignal): Promise<ChimeInfo[]> {
  const { userDir } = st.opts;
  const [user, builtin] = await Promise.all([namesIn(userDir), namesIn(st.builtinDir)]);
  const names = [...user.keys(), ...[...builtin.keys()].filter((n) => !user.has(n))].slice(
    0,
    MAX_LISTED_CHIMES,
  );
  const rows: ChimeInfo[] = [];
  for (const name of names) {
    const source = user.has(name) ? 'user' : 'builtin';
    const file = (user.get(name) ?? builtin.get(name)) as string;
    const size = await stat(join(source === 'user' ? userDir : st.builtinDir, file)).then(
      (s) => s.size,
      () => 0,
    );
    try {
      const ref = await resolveChime(st, name);
      const info = await st.decoder.probe(ref, signal);
      rows.push({ name, source, file, bytes: ref.bytes, durationMs: info.durationMs });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      rows.push({ name, source, file, bytes: size, error: (err as Error).message });
    }
  }
  return rows;
}
