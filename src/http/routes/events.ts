import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { HubEvents } from '../../hub-events.js';
import type { SayEvent } from '../../say/events.js';
import { errorPayload, resultPayload } from '../../say/result.js';
import type { EventHub } from '../../shared/events.js';

/** Longest text kept in a `say` event, in characters (the panel shows a line, not the whole text). */
const TEXT_PREVIEW_CHARS = 160;

/** What `GET /api/events` streams and from where. */
export interface EventsRouteOptions {
  events: EventHub<HubEvents>;
  /** The `status` event's body (the health body: engines, queue_depth, in_flight, cache …). */
  status: () => Promise<Record<string, unknown>>;
  /** Period of `status` events while a client listens, in ms. Default 2000. */
  statusIntervalMs?: number;
  /** Recent `say` events replayed to a client when it connects. Default 20. */
  recentSays?: number;
}

/**
 * The wire shape of a `say` event: the `tts/result` JSON (ok or error) plus `at` (ISO 8601) and a preview of
 * the text.
 */
export function sayEventPayload(e: SayEvent): Record<string, unknown> {
  const text =
    e.request.text.length > TEXT_PREVIEW_CHARS
      ? `${e.request.text.slice(0, TEXT_PREVIEW_CHARS - 1)}…`
      : e.request.text;
  const body = e.result ? resultPayload(e.result) : errorPayload(e.request.id, e.error);
  return { at: e.at.toISOString(), text, ...body };
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * `GET /api/events`: server-sent events (text/event-stream) for the panel. Events: `status` (on connect, then
 * every `statusIntervalMs`), `say` (each finished say; the recent ones replayed on connect, oldest first),
 * `recorder` (a device's `recorder/<device>/status` payload). Streams end when the client leaves or the app
 * closes.
 */
export const eventsRoutes: FastifyPluginAsync<EventsRouteOptions> = async (app, opts) => {
  const clients = new Set<ServerResponse>();
  const recent: Array<Record<string, unknown>> = [];
  const keep = opts.recentSays ?? 20;
  let timer: NodeJS.Timeout | undefined;

  const broadcast = (text: string): void => {
    for (const res of clients) if (!res.destroyed) res.write(text);
  };
  const sendStatus = async (targets: Iterable<ServerResponse>): Promise<void> => {
    let text: string;
    try {
      text = frame('status', await opts.status());
    } catch (err) {
      app.log.warn({ err }, 'status for events failed');
      return;
    }
    for (const res of targets) if (!res.destroyed && !res.writableEnded) res.write(text);
  };
  const offSay = opts.events.on('say', (e) => {
    const payload = sayEventPayload(e);
    recent.push(payload);
    if (recent.length > keep) recent.shift();
    broadcast(frame('say', payload));
  });
  const offRecorder = opts.events.on('recorder', (status) => broadcast(frame('recorder', status)));

  const remove = (res: ServerResponse): void => {
    clients.delete(res);
    if (clients.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  app.get('/api/events', async (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Home Assistant's ingress proxy and nginx buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    for (const payload of recent) res.write(frame('say', payload));
    clients.add(res);
    request.raw.once('close', () => remove(res));
    res.on('error', () => remove(res));
    await sendStatus([res]);
    timer ??= setInterval(() => {
      sendStatus(clients).catch(() => {});
    }, opts.statusIntervalMs ?? 2000);
    timer.unref();
  });

  // Open streams would keep server.close() waiting for ever: end them before the server closes.
  app.addHook('preClose', async () => {
    offSay();
    offRecorder();
    for (const res of clients) res.end();
    clients.clear();
    clearInterval(timer);
    timer = undefined;
  });
};
