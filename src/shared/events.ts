/**
 * The hub's one typed event hub (STYLE "Boundaries": domain events go through one typed emitter). Producers
 * (the say service via {@link observeSay}, the recorder's status callback) emit; consumers (the panel's
 * server-sent events, later others) listen. A throwing listener is logged and never reaches the producer.
 */
import type { DeviceStatus } from '../recorder/status.js';
import type { SayRequest } from '../say/request.js';
import type { SayResult, SayService } from '../say/service.js';
import { type AppError, toAppError } from './errors.js';
import type { Log } from './log.js';

/** One finished say, successful (`result`) or not (`error`), from any input. */
export interface SayEvent {
  /** When it finished. */
  at: Date;
  request: SayRequest;
  result?: SayResult;
  error?: AppError;
}

/** Event name → payload of every event the hub emits. */
export interface HubEvents {
  /** A say finished (any input: MQTT, HTTP, OpenAI, Wyoming, schedules). */
  say: SayEvent;
  /** A recorder device's status changed (the `recorder/<device>/status` payload), at least every 2 s while recording. */
  recorder: DeviceStatus;
}

/** A listener of event `K`. */
export type Listener<M, K extends keyof M> = (payload: M[K]) => void;

/** A typed emitter over the event map `M`. */
export interface EventHub<M> {
  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof M>(name: K, listener: Listener<M, K>): () => void;
  /** Calls every listener of `name` synchronously, in order; a listener that throws is logged and skipped. */
  emit<K extends keyof M>(name: K, payload: M[K]): void;
  /** Listeners of `name` now (for tests and for starting work only while someone listens). */
  listenerCount(name: keyof M): number;
}

/** Creates an event hub over `M` (default {@link HubEvents}). */
export function createEventHub<M = HubEvents>(log: Log): EventHub<M> {
  const listeners = new Map<keyof M, Set<(payload: never) => void>>();
  return {
    on(name, listener) {
      let set = listeners.get(name);
      if (!set) {
        set = new Set();
        listeners.set(name, set);
      }
      set.add(listener as (payload: never) => void);
      return () => {
        set.delete(listener as (payload: never) => void);
      };
    },
    emit(name, payload) {
      for (const listener of [...(listeners.get(name) ?? [])]) {
        try {
          (listener as Listener<M, typeof name>)(payload);
        } catch (err) {
          log.warn({ err, event: String(name) }, 'event listener failed');
        }
      }
    },
    listenerCount: (name) => listeners.get(name)?.size ?? 0,
  };
}

/**
 * Wraps a say service so every finished say (ok or failed) is emitted as `say` on `events`; the wrapped
 * service behaves exactly like the original (same results, same errors, same abort behaviour).
 */
export function observeSay(service: SayService, events: EventHub<HubEvents>): SayService {
  const emit = (request: SayRequest, outcome: { result?: SayResult; error?: AppError }): void => {
    events.emit('say', { at: new Date(), request, ...outcome });
  };
  // `begin` is the entry of every input (`say` is `begin(...).done`), so wrapping it sees HTTP `wait: false` too.
  const begin: SayService['begin'] = async (request, signal, options) => {
    let ticket: Awaited<ReturnType<SayService['begin']>>;
    try {
      ticket = await service.begin(request, signal, options);
    } catch (err) {
      emit(request, { error: toAppError(err) });
      throw err;
    }
    ticket.done.then(
      (result) => emit(request, { result }),
      (err: unknown) => emit(request, { error: toAppError(err) }),
    );
    return ticket;
  };
  return {
    ...service,
    begin,
    say: async (request, signal, options) => (await begin(request, signal, options)).done,
  };
}
