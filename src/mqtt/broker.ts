import { createConnection, createServer, type Server } from 'node:net';
import { supervisorGet } from '../config/supervisor.js';
import type { Log } from '../shared/log.js';

/** How the hub reaches its MQTT broker, and where that came from. */
export interface BrokerChoice {
  url: string;
  username?: string;
  password?: string;
  /** `options`, `supervisor`, `local` (a broker answered on 127.0.0.1:1883) or `embedded`. */
  source: 'options' | 'supervisor' | 'local' | 'embedded';
}

/** An embedded aedes broker listening on a TCP port. */
export interface EmbeddedBroker {
  url: string;
  stop(): Promise<void>;
}

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export function tcpAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Asks the Supervisor for the MQTT service (`GET <supervisorUrl>/services/mqtt`, bearer token).
 * Answer shape (Supervisor API): `{result: "ok", data: {host, port, ssl, username, password, protocol}}`.
 * Resolves undefined when the service is not available; never throws.
 */
export async function supervisorMqtt(
  supervisorUrl: string,
  token: string,
  log: Log,
): Promise<BrokerChoice | undefined> {
  const data = await supervisorGet<{
    host?: string;
    port?: number;
    ssl?: boolean;
    username?: string;
    password?: string;
  }>(supervisorUrl, token, '/services/mqtt', log);
  if (!data?.host) return undefined;
  const scheme = data.ssl ? 'mqtts' : 'mqtt';
  return {
    url: `${scheme}://${data.host}:${data.port ?? 1883}`,
    username: data.username || undefined,
    password: data.password || undefined,
    source: 'supervisor',
  };
}

/** Starts an aedes broker on host:port. @throws the listen error (EADDRINUSE...). */
export async function startEmbeddedBroker(host: string, port: number, log: Log): Promise<EmbeddedBroker> {
  // Loaded only when needed: most installs use the Supervisor's or a local broker, and aedes costs memory.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  log.info({ host, port }, 'embedded mqtt broker listening');
  return {
    url: `mqtt://${host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        broker.close(() => server.close(() => resolve()));
      }),
  };
}

/**
 * Chooses the broker in DESIGN order: the options' url; else the Supervisor's mqtt service (when a token is
 * set); else 127.0.0.1:1883 if a broker answers; else an embedded aedes broker there.
 * @param localPort the local port probed and listened on, default 1883 (tests pass a free one).
 */
export async function chooseBroker(opts: {
  url: string;
  username: string;
  password: string;
  supervisorUrl: string;
  supervisorToken: string | undefined;
  log: Log;
  localPort?: number;
}): Promise<{ choice: BrokerChoice; embedded?: EmbeddedBroker }> {
  const localPort = opts.localPort ?? 1883;
  if (opts.url) {
    return {
      choice: {
        url: opts.url,
        username: opts.username || undefined,
        password: opts.password || undefined,
        source: 'options',
      },
    };
  }
  if (opts.supervisorToken) {
    const fromSupervisor = await supervisorMqtt(opts.supervisorUrl, opts.supervisorToken, opts.log);
    if (fromSupervisor) return { choice: fromSupervisor };
  }
  if (await tcpAnswers('127.0.0.1', localPort)) {
    return { choice: { url: `mqtt://127.0.0.1:${localPort}`, source: 'local' } };
  }
  const embedded = await startEmbeddedBroker('127.0.0.1', localPort, opts.log);
  return { choice: { url: embedded.url, source: 'embedded' }, embedded };
}
