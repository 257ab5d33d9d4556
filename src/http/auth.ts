/**
 * Who may call the HTTP API (DESIGN "HTTP" and "Delivery and limits"; Home Assistant add-on ingress rules):
 * requests from the Supervisor's ingress proxy (172.30.32.2) and from loopback are trusted; anything else needs
 * `Authorization: Bearer <http.api_token>`. Secure by default: without a token configured, such callers reach
 * nothing but the audio GETs. Audio (`GET|HEAD /api/audio/<key>.<ext>`) stays open to everyone: media players
 * fetch it without headers, and its key is a capability (an HMAC of the cache key with a per-install secret,
 * src/cache/url-keys.ts), not guessable and not computable from the text.
 * The ingress base path (`X-Ingress-Path`) is read by the panel route (src/http/routes/panel.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/** The Supervisor's ingress proxy address (developers.home-assistant.io, "Add-on ingress"). */
export const INGRESS_PROXY_ADDRESS = '172.30.32.2';

const OPEN_AUDIO = /^\/api\/audio\/[0-9a-f]{64}\.(opus|mp3|wav)$/;

/** The peer address without the IPv4-mapped IPv6 prefix (`::ffff:127.0.0.1` → `127.0.0.1`). */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(address: string): boolean {
  const a = plainAddress(address);
  return a === '::1' || a.startsWith('127.');
}

/** True when the request comes from the ingress proxy or loopback. */
export function isTrustedPeer(address: string): boolean {
  return isLoopback(address) || plainAddress(address) === INGRESS_PROXY_ADDRESS;
}

/** Constant-time comparison of the presented bearer token with the configured one. */
function tokenMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  if (!m) return false;
  const given = Buffer.from((m[1] as string).trim());
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** Refusals logged per peer address, at most this many remembered (one log line per peer, not per request). */
const MAX_LOGGED_PEERS = 1000;

/**
 * Adds the access check (an `onRequest` hook on the root instance, so it covers every route, before any body
 * is read). Refused requests get 401 `{error: {code: "UNAUTHORIZED", message}}` naming `http.api_token`, and
 * a `WWW-Authenticate: Bearer` header. With an empty `apiToken`, peers other than ingress and loopback reach
 * only the audio GETs.
 */
export function installAuth(app: FastifyInstance, opts: { apiToken: string }): void {
  const logged = new Set<string>();
  app.addHook('onRequest', async (request, reply) => {
    if (isTrustedPeer(request.ip)) return;
    const path = request.url.split('?')[0] ?? '';
    if ((request.method === 'GET' || request.method === 'HEAD') && OPEN_AUDIO.test(path)) return;
    if (opts.apiToken && tokenMatches(request.headers.authorization, opts.apiToken)) return;
    if (!logged.has(request.ip)) {
      if (logged.size >= MAX_LOGGED_PEERS) logged.clear();
      logged.add(request.ip);
      request.log.warn({ ip: request.ip, url: path.slice(0, 200) }, 'request refused: no valid API token');
    }
    const message = opts.apiToken
      ? 'this address needs the API token: send Authorization: Bearer <http.api_token>'
      : 'only Home Assistant (ingress) and this host may use the API; to allow other hosts, set http.api_token in the add-on options and send Authorization: Bearer <http.api_token>';
    return reply
      .status(401)
      .header('WWW-Authenticate', 'Bearer')
      .send({ error: { code: 'UNAUTHORIZED', message } });
  });
}
