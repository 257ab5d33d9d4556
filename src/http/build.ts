/**
 * The HTTP area as a service of the hub: the app (`buildServer`, which never listens) listening on
 * `http.port`, and its close within the shutdown grace.
 */
import type { Options } from '../config/schema.js';
import type { Log } from '../shared/log.js';
import type { Service } from '../shared/service.js';
import { buildServer, type HttpDeps } from './server.js';

/** Builds the app; its service listens on `options.http.port` (all interfaces). */
export async function buildHttp(
  options: Options,
  deps: HttpDeps & { log: Log },
): Promise<{ http: Awaited<ReturnType<typeof buildServer>>; service: Service }> {
  const http = await buildServer(deps);
  return {
    http,
    service: {
      name: 'http',
      async start() {
        await http.listen({ port: options.http.port, host: '0.0.0.0' });
      },
      async stop(graceMs) {
        // Fastify waits for in-flight requests (a say, a live stream), which end when the say service has
        // finished or cancelled its work within the grace (stopped together with it). A connection still open
        // after the grace (a client that connected and sent nothing, a listener that stopped reading) is cut,
        // so stopping never waits on a client.
        const cut = setTimeout(() => http.server.closeAllConnections(), graceMs + 500);
        await http.close().catch(() => {});
        clearTimeout(cut);
      },
    },
  };
}
