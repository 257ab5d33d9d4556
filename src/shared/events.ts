/**
 * The hub's one typed event hub (STYLE "Boundaries": domain events go through one typed emitter). Generic over
 * the event map: each domain declares its own events (`say/events.ts`, `recorder/events.ts`) and the hub joins
 * them (`hub-events.ts`). Producers emit; consumers (the panel's server-sent events, metrics, the MQTT status
 * publisher) listen. A throwing listener is logged and never reaches the producer.
 */
import type { Log } from './log.js';

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

/** Creates an event hub over the event map `M` (event name → payload type). */
export function createEventHub<M>(log: Log): EventHub<M> {
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
