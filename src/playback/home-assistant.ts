/**
 * A small client for Home Assistant Core's REST API reached through the Supervisor's proxy
 * (`<supervisorUrl>/core/api/...`, `Authorization: Bearer $SUPERVISOR_TOKEN`; the add-on needs
 * `homeassistant_api: true`). Endpoints after home-assistant/developers.home-assistant `docs/api/rest.md`:
 * - `POST /api/services/<domain>/<service>` with the service data as JSON; answers the list of states that
 *   changed (200), 400 for an unknown service or invalid data, 401 without a valid token.
 * - `GET /api/states/<entity_id>` → `{entity_id, state, attributes, last_changed, last_updated}`, 404 when unknown.
 */
import { AppError } from '../shared/errors.js';

/** A Home Assistant state object (the fields we read). */
export interface EntityState {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
}

/** Calls Home Assistant Core. */
export interface HomeAssistantClient {
  /**
   * Calls a service; resolves when Home Assistant answered 2xx.
   * @throws AppError SINK_UNREACHABLE (no connection, timeout), SINK_FAILED (a non-2xx answer, with its body);
   *   the abort reason when `signal` aborts.
   */
  callService(
    domain: string,
    service: string,
    data: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * Reads an entity's state.
   * @throws AppError SINK_FAILED (404 unknown entity, other non-2xx), SINK_UNREACHABLE; the abort reason.
   */
  getState(entityId: string, signal: AbortSignal): Promise<EntityState>;
}

/** Longest a single REST call may take, in ms (Core answers a service call within 10 s). */
export const HA_CALL_TIMEOUT_MS = 15_000;

/** Builds the client for `supervisorUrl` (e.g. http://supervisor) and the Supervisor token. */
export function createHomeAssistantClient(opts: {
  supervisorUrl: string;
  token: string;
}): HomeAssistantClient {
  const base = `${opts.supervisorUrl.replace(/\/+$/, '')}/core/api`;

  async function request(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<unknown> {
    const url = `${base}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${opts.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(HA_CALL_TIMEOUT_MS)]),
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new AppError(
        'SINK_UNREACHABLE',
        `Home Assistant did not answer ${method} ${path}: ${(err as Error).message}; check that the add-on has homeassistant_api`,
        { cause: err },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      throw new AppError(
        'SINK_FAILED',
        `Home Assistant answered ${res.status} to ${method} ${path}: ${reasonOf(res.status, text)}`,
        {
          details: { status: res.status },
        },
      );
    }
    try {
      return text ? JSON.parse(text) : undefined;
    } catch (err) {
      throw new AppError('SINK_FAILED', `Home Assistant answered ${method} ${path} with invalid JSON`, {
        cause: err,
      });
    }
  }

  return {
    async callService(domain, service, data, signal) {
      await request('POST', `/services/${domain}/${service}`, data, signal);
    },
    async getState(entityId, signal) {
      const state = (await request('GET', `/states/${entityId}`, undefined, signal)) as
        | EntityState
        | undefined;
      if (!state || typeof state !== 'object' || typeof state.attributes !== 'object') {
        throw new AppError('SINK_FAILED', `Home Assistant sent no state for ${entityId}`);
      }
      return state;
    },
  };
}

/**
 * The reason in a failed answer: Core's JSON `{"message": ...}` when it gave one (HomeAssistantView
 * `json_message`), else its text; a bare 500 means Core raised an error it does not report over REST.
 */
function reasonOf(status: number, text: string): string {
  if (status === 401) return 'the Supervisor token was refused';
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string' && message) return message;
  } catch {
    // not JSON
  }
  const body = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  if (status >= 500)
    return `${body || 'server error'} (Home Assistant's log, Settings → System → Logs, has the reason)`;
  return body || 'no reason given';
}
