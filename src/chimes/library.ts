/**
 * The chime library: built-in chimes shipped beside this file (`builtin/*.ogg`, made by `builtin/make.sh`) and
 * user chimes in `<share>/chimes/` (`<name>.ogg|.mp3|.wav|.flac`; a user file replaces a built-in of the same
 * name). A chime is identified in cache keys by the SHA-256 of its file's bytes, so a replaced file never
 * serves old audio. The file is hashed once per change: each lookup stats it (a few µs) and reads it again
 * only when its inode, size, mtime or ctime moved. Its PCM is decoded with ffmpeg once per content and format
 * (chimes/decode.ts), never on a cache hit.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AudioFormat } from '../audio/format.js';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { type ChimeDecoder, createChimeDecoder } from './decode.js';

/** File extensions a chime may have, in lookup order. */
export const CHIME_EXTENSIONS = ['ogg', 'mp3', 'wav', 'flac'] as const;
/** A chime name: the file name without its extension. */
export const CHIME_NAME = /^[A-Za-z0-9_-]{1,64}$/;
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

interface Hashed {
  /** inode, size, mtime and ctime (ns) joined: the file is re-read when this changes. */
  stamp: string;
  hash: string;
}

/** Most chimes `list` reports (each is decoded once to learn its length). */
export const MAX_LISTED_CHIMES = 200;
/** Most file hashes remembered (one per chime file seen). */
const MAX_HASHES = 1000;

/** Creates the library; nothing is read until used. */
export function createChimeLibrary(opts: ChimeLibraryOptions): ChimeLibrary {
  const builtinDir = opts.builtinDir ?? BUILTIN_CHIMES_DIR;
  const hashes = new Map<string, Hashed>();
  const decoder: ChimeDecoder = createChimeDecoder({ maxDurationMs: opts.maxDurationMs });

  /** The file of `name` in `dir` with its stat, or undefined. */
  async function findIn(dir: string, name: string) {
    for (const ext of CHIME_EXTENSIONS) {
      const path = join(dir, `${name}.${ext}`);
      const st = await stat(path, { bigint: true }).catch(() => undefined);
      if (st?.isFile()) return { path, st };
    }
    return undefined;
  }

  async function hashOf(name: string, path: string, st: BigIntStats): Promise<string> {
    const stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const known = hashes.get(path);
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
    if (hashes.size >= MAX_HASHES) hashes.clear();
    hashes.set(path, { stamp, hash });
    return hash;
  }

  /** Chime names found in `dir` (valid names and extensions only), first extension wins. */
  async function namesIn(dir: string): Promise<Map<string, string>> {
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

  async function knownNames(): Promise<string[]> {
    const [user, builtin] = await Promise.all([namesIn(opts.userDir), namesIn(builtinDir)]);
    return [...new Set([...user.keys(), ...builtin.keys()])].sort();
  }

  async function resolve(name: string): Promise<ChimeRef> {
    const found = CHIME_NAME.test(name)
      ? ((await findIn(opts.userDir, name).then((f) => f && { ...f, source: 'user' as const })) ??
        (await findIn(builtinDir, name).then((f) => f && { ...f, source: 'builtin' as const })))
      : undefined;
    if (!found) {
      throw new AppError(
        'CHIME_NOT_FOUND',
        `chime '${name}' not found; known chimes: ${(await knownNames()).join(', ') || 'none'}; add your own as ${opts.userDir}/<name>.ogg (or .mp3, .wav, .flac)`,
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
    return {
      name,
      source: found.source,
      path: found.path,
      bytes,
      hash: await hashOf(name, found.path, found.st),
    };
  }

  const stopping = new AbortController();
  async function warmUp(names: string[], format: AudioFormat): Promise<void> {
    for (const name of new Set(names)) {
      if (stopping.signal.aborted) return;
      try {
        await decoder.pcm(await resolve(name), format, stopping.signal);
      } catch (err) {
        if (stopping.signal.aborted) return;
        const e = err as AppError;
        opts.log.warn(
          { chime: name, code: e.code, err: e.message },
          'chime named in the options is unusable',
        );
      }
    }
  }

  return {
    userDir: opts.userDir,
    async start(warm) {
      await mkdir(opts.userDir, { recursive: true }).catch((err: unknown) =>
        opts.log.warn({ dir: opts.userDir, err: (err as Error).message }, 'cannot create the chimes folder'),
      );
      if (warm?.names.length) void warmUp(warm.names, warm.format);
    },
    stop: () => stopping.abort(new AppError('SHUTTING_DOWN', 'chime warm-up stopped')),
    async list(signal) {
      const [user, builtin] = await Promise.all([namesIn(opts.userDir), namesIn(builtinDir)]);
      const names = [...user.keys(), ...[...builtin.keys()].filter((n) => !user.has(n))].slice(
        0,
        MAX_LISTED_CHIMES,
      );
      const rows: ChimeInfo[] = [];
      for (const name of names) {
        const source = user.has(name) ? 'user' : 'builtin';
        const file = (user.get(name) ?? builtin.get(name)) as string;
        const size = await stat(join(source === 'user' ? opts.userDir : builtinDir, file)).then(
          (st) => st.size,
          () => 0,
        );
        try {
          const ref = await resolve(name);
          const info = await decoder.probe(ref, signal);
          rows.push({ name, source, file, bytes: ref.bytes, durationMs: info.durationMs });
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          rows.push({ name, source, file, bytes: size, error: (err as Error).message });
        }
      }
      return rows;
    },
    resolve,
    pcm: (ref, format, signal) => decoder.pcm(ref, format, signal),
  };
}
