/**
 * Whether the MQTT broker writes its sessions and queued messages to disk (so they survive a broker restart).
 * No client can see this: MQTT has no such property and mosquitto publishes no `$SYS` topic for it. So it is
 * inferred, and the finding says how:
 * - the embedded broker (aedes) keeps everything in the hub's memory: off;
 * - the Home Assistant Mosquitto add-on (the Supervisor's broker) writes `persistence true` and
 *   `persistence_location /data/` into its mosquitto.conf (home-assistant/addons
 *   `mosquitto/rootfs/usr/share/tempio/mosquitto.gtpl`): on, unless its customize folder turns it off;
 * - a mosquitto on this machine: the process listening on the broker's port is found through /proc
 *   (/proc/net/tcp → socket inode → /proc/<pid>/fd) and its `-c` configuration file is read (mosquitto's own
 *   default, without a file, is `persistence false`);
 * - anything else: unknown.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The inference and how it was made. */
export interface PersistenceGuess {
  state: 'on' | 'off' | 'unknown';
  /** How it was found out, for the finding's message. */
  how: string;
}

/** Inodes of sockets listening on TCP `port` (any local address), from /proc/net/tcp and tcp6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local || f[3] !== '0A') continue; // 0A: LISTEN
      if (Number.parseInt(local.split(':')[1] ?? '', 16) === port && f[9]) inodes.add(f[9]);
    }
  }
  return inodes;
}

/** The pid holding one of `inodes`, by reading every process's fd links (needs the right to read them). */
function pidOf(inodes: Set<string>): number | undefined {
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1] as string)) return Number(pid);
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return undefined;
}

/**
 * The `persistence` setting of a mosquitto.conf: the last `persistence` line wins, `include_dir` folders are
 * read where they appear (their `.conf` files in name order); mosquitto's default is false.
 */
export function mosquittoPersistence(confPath: string, depth = 0): boolean | undefined {
  let on: boolean | undefined;
  for (const raw of readFileSync(confPath, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [key, value] = line.split(/\s+/, 2);
    if (key === 'persistence') on = value === 'true';
    if (key === 'include_dir' && value && depth < 3 && existsSync(value) && statSync(value).isDirectory()) {
      for (const file of readdirSync(value)
        .filter((f) => f.endsWith('.conf'))
        .sort()) {
        const inner = mosquittoPersistence(join(value, file), depth + 1);
        if (inner !== undefined) on = inner;
      }
    }
  }
  return on;
}

/** The `-c`/`--config-file` argument of a mosquitto command line. */
function configOf(argv: string[]): string | undefined {
  const at = argv.findIndex((a) => a === '-c' || a === '--config-file');
  return at >= 0 ? argv[at + 1] : undefined;
}

/** Reads the persistence of the mosquitto listening on `port` of this machine, if it is one. */
function localMosquitto(port: number): PersistenceGuess | undefined {
  let pid: number | undefined;
  try {
    pid = pidOf(listeningInodes(port));
  } catch {
    return undefined;
  }
  if (pid === undefined) return undefined;
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  if (comm !== 'mosquitto')
    return { state: 'unknown', how: `the broker on port ${port} is '${comm}' (pid ${pid}), not mosquitto` };
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const conf = configOf(argv);
  if (!conf)
    return {
      state: 'off',
      how: `mosquitto (pid ${pid}) runs without a configuration file, and its default is persistence false`,
    };
  try {
    const on = mosquittoPersistence(conf) ?? false;
    return {
      state: on ? 'on' : 'off',
      how: `read from ${conf} of mosquitto (pid ${pid}) listening on port ${port}`,
    };
  } catch (err) {
    return {
      state: 'unknown',
      how: `cannot read ${conf} of mosquitto (pid ${pid}): ${(err as Error).message}`,
    };
  }
}

/**
 * Infers the broker's persistence (see the module comment).
 * @param source where the broker came from (`embedded`, `supervisor`, `local`, `options`).
 */
export function guessPersistence(url: string, source: string): PersistenceGuess {
  if (source === 'embedded') {
    return { state: 'off', how: 'the embedded broker (aedes) keeps sessions in the hub process memory only' };
  }
  if (source === 'supervisor') {
    return {
      state: 'on',
      how: "the Home Assistant Mosquitto add-on's generated mosquitto.conf sets persistence true (persistence_location /data/), unless a file in its customize folder turns it off",
    };
  }
  let host = '';
  let port = 1883;
  try {
    const u = new URL(url);
    host = u.hostname;
    port = Number(u.port) || (u.protocol === 'mqtts:' ? 8883 : 1883);
  } catch {
    // an unparsable URL: unknown below
  }
  if (['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host) && process.platform === 'linux') {
    const local = localMosquitto(port);
    if (local) return local;
  }
  return {
    state: 'unknown',
    how: 'a client cannot see it: MQTT has no such property and mosquitto publishes no $SYS topic for it',
  };
}
