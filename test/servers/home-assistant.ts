/**
 * Stand-in for the Supervisor and Home Assistant Core's REST API behind it, for playback tests.
 * Sources:
 * - Core REST API: home-assistant/developers.home-assistant `docs/api/rest.md`: every call needs
 *   `Authorization: Bearer <token>` (401 otherwise); `GET /api/states/<entity_id>` → a state object
 *   `{entity_id, state, attributes, last_changed, last_updated}` or 404; `POST /api/services/<domain>/<service>`
 *   with the service data as JSON → the list of states that changed (200); an unknown service → 400.
 * - The Supervisor proxies Core at `/core/api/...` (home-assistant/supervisor `supervisor/api/proxy.py`) and
 *   answers `GET /services/mqtt` with `{result: "ok", data: {host, port, ssl, protocol, username, password}}`
 *   (`supervisor/api/services.py`, `supervisor/services/modules/mqtt.py`).
 * - Service effects we model: media_player.volume_set sets `volume_level`; media_player.play_media sets the
 *   state to `playing` and `media_content_id` (and, for entities in `playMs`, returns to the earlier state and
 *   content after that many ms, as a player does when an announcement ends: MediaPlayerState in
 *   `homeassistant/components/media_player/const.py`); assist_satellite.announce answers [] (fields per each
 *   integration's `services.yaml`).
 * - As Core does (home-assistant/core `homeassistant/components/api/__init__.py`, APIEntityStateView and
 *   APIDomainServicesView; `homeassistant/helpers/service.py` entity_service_call): `GET /api/states/<id>` of
 *   an unknown entity answers 404 `{"message": "Entity not found."}`; a service call for an unknown or
 *   `unavailable` entity answers 200 `[]` (Core skips it and only logs); a call on an entity whose
 *   `supported_features` lack the service's feature (media_player.play_media: PLAY_MEDIA 512, volume_set:
 *   VOLUME_SET 4; assist_satellite.announce: ANNOUNCE 1) fails inside Core and answers aiohttp's bare
 *   `500 Internal Server Error` text, which is what a hub without its own check would see.
 * - `GET /addons/self/info` → `{result: "ok", data: {network: {"8099/tcp": <host port> | null, ...}}}`
 *   (`supervisor/api/apps.py`: the user's port mapping over the config's; only the fields the hub reads).
 * - Access as the real Supervisor decides it (test/servers/supervisor-access.ts, after
 *   `supervisor/api/middleware/security.py` and `supervisor/api/proxy.py`): with the grants of the repository's
 *   config.yaml unless a test passes others, a path they do not allow answers 403 (Supervisor API) or 401 (Core).
 * Every request is recorded (method, path, authorization, JSON body, status) so tests check the exact calls.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AddonGrants, manifestGrants, supervisorAccess } from './supervisor-access.js';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One recorded request. */
export interface RecordedCall {
  method: string;
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown> | undefined;
  /** The status answered (set once the answer is sent). */
  status?: number;
}

/** A Home Assistant state object. */
export interface StateObject {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
  last_changed: string;
  last_updated: string;
}

/** The running stand-in. */
export interface HomeAssistantStandIn {
  /** What the hub uses as TTS_HUB_SUPERVISOR_URL. */
  url: string;
  token: string;
  /** Every request, in arrival order. */
  calls: RecordedCall[];
  /** Service calls only, as `{service: "domain/service", data}`. */
  serviceCalls(): Array<{ service: string; data: Record<string, unknown> | undefined }>;
  /** Current states by entity id. */
  states: Map<string, StateObject>;
  stop(): Promise<void>;
}

const SERVICES: Record<string, string[]> = {
  media_player: ['play_media', 'volume_set', 'media_stop'],
  assist_satellite: ['announce'],
};

/** The feature bit each modelled service needs (MediaPlayerEntityFeature, AssistSatelliteEntityFeature). */
const REQUIRED_FEATURE: Record<string, number> = {
  'media_player/play_media': 512,
  'media_player/volume_set': 4,
  'assist_satellite/announce': 1,
};

/** aiohttp's answer when a handler raised (what Core's REST API gives for an unsupported service call). */
const SERVER_ERROR_TEXT = '500 Internal Server Error\n\nServer got itself in trouble';

/** Thrown inside a service call to answer the bare 500. */
class ServiceFailed extends Error {}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
}

/** Creates a state object as Core reports it. */
export function makeState(entityId: string, state: string, attributes: Record<string, unknown>): StateObject {
  const now = new Date().toISOString();
  return { entity_id: entityId, state, attributes, last_changed: now, last_updated: now };
}

/** Starts the stand-in on 127.0.0.1:<free port> with `entities` (id → state object). */
export async function startHomeAssistant(opts: {
  token: string;
  entities?: StateObject[];
  mqtt?: { host: string; port: number };
  /** The host's LAN address for `GET /network/info` (supervisor/api/network.py: interfaces with primary, ipv4). */
  hostAddress?: string;
  /** Media players that finish playing: entity id → ms after play_media when they return to their earlier state. */
  playMs?: Record<string, number>;
  /** The add-on's port mapping for `GET /addons/self/info` (`network`); default: none known (404 there). */
  published?: Record<string, number | null>;
  /** The add-on's API grants; default: those of the repository's config.yaml. */
  grants?: AddonGrants;
}): Promise<HomeAssistantStandIn> {
  const grants = opts.grants ?? manifestGrants(REPO_DIR);
  const calls: RecordedCall[] = [];
  const states = new Map((opts.entities ?? []).map((s) => [s.entity_id, s]));

  const applyService = (domain: string, service: string, data: Record<string, unknown>): StateObject[] => {
    const ids = [data.entity_id].flat().filter((x): x is string => typeof x === 'string');
    const changed: StateObject[] = [];
    for (const id of ids) {
      const s = states.get(id);
      if (!s || s.state === 'unavailable') continue; // Core skips unknown and unavailable entities.
      const features =
        typeof s.attributes.supported_features === 'number' ? s.attributes.supported_features : 0;
      const needs = REQUIRED_FEATURE[`${domain}/${service}`] ?? 0;
      if ((features & needs) !== needs) throw new ServiceFailed(`${id} lacks feature ${needs}`);
      if (domain === 'media_player' && service === 'volume_set')
        s.attributes.volume_level = data.volume_level;
      if (domain === 'media_player' && service === 'play_media') {
        const earlier = { state: s.state, content: s.attributes.media_content_id };
        s.state = 'playing';
        s.attributes.media_content_id = data.media_content_id;
        const ms = opts.playMs?.[id];
        if (ms !== undefined) {
          setTimeout(() => {
            if (s.attributes.media_content_id !== data.media_content_id) return; // something else plays now
            s.state = earlier.state;
            s.attributes.media_content_id = earlier.content;
            s.last_updated = new Date().toISOString();
          }, ms).unref();
        }
      }
      s.last_updated = new Date().toISOString();
      changed.push(s);
    }
    return changed;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const call: RecordedCall = {
      method: req.method ?? '',
      path,
      authorization: req.headers.authorization,
      body,
    };
    calls.push(call);
    res.once('finish', () => {
      call.status = res.statusCode;
    });
    if (req.headers.authorization !== `Bearer ${opts.token}`) return send(res, 401, '401: Unauthorized');
    const access = supervisorAccess(path, grants);
    if (!access.allowed) return send(res, access.status, { result: 'error', message: access.reason });
    if (req.method === 'GET' && path === '/addons/self/info' && opts.published) {
      return send(res, 200, { result: 'ok', data: { slug: 'local_tts_hub', network: opts.published } });
    }
    if (req.method === 'GET' && path === '/services/mqtt') {
      if (!opts.mqtt) return send(res, 400, { result: 'error', message: 'Service not enabled' });
      const data = { ...opts.mqtt, ssl: false, protocol: '3.1.1', username: '', password: '' };
      return send(res, 200, { result: 'ok', data });
    }
    if (req.method === 'GET' && path === '/network/info') {
      const interfaces = opts.hostAddress
        ? [
            {
              interface: 'eth0',
              type: 'ethernet',
              enabled: true,
              connected: true,
              primary: true,
              ipv4: {
                method: 'auto',
                address: [`${opts.hostAddress}/24`],
                nameservers: [],
                gateway: null,
                ready: true,
              },
            },
          ]
        : [];
      return send(res, 200, {
        result: 'ok',
        data: { interfaces, host_internet: false, supervisor_internet: false },
      });
    }
    const stateMatch = /^\/core\/api\/states\/([a-z0-9_]+\.[a-z0-9_]+)$/.exec(path);
    if (req.method === 'GET' && stateMatch) {
      const s = states.get(stateMatch[1] as string);
      return s ? send(res, 200, s) : send(res, 404, { message: 'Entity not found.' });
    }
    const serviceMatch = /^\/core\/api\/services\/([a-z0-9_]+)\/([a-z0-9_]+)$/.exec(path);
    if (req.method === 'POST' && serviceMatch) {
      const [, domain = '', service = ''] = serviceMatch;
      if (!SERVICES[domain]?.includes(service))
        return send(res, 400, { message: `Service ${domain}.${service} not found.` });
      try {
        return send(res, 200, applyService(domain, service, body ?? {}));
      } catch (err) {
        if (err instanceof ServiceFailed) return send(res, 500, SERVER_ERROR_TEXT);
        throw err;
      }
    }
    send(res, 404, { message: 'Not found' });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => send(res, 500, { message: err.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token: opts.token,
    calls,
    states,
    serviceCalls: () =>
      calls
        .filter((c) => c.method === 'POST' && c.path.startsWith('/core/api/services/'))
        .map((c) => ({ service: c.path.slice('/core/api/services/'.length), data: c.body })),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
