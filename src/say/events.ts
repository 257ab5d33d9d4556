/**
 * The say domain's events: every finished say, from any input, as the panel's event stream and the metrics see
 * it. Emitted through the hub's typed emitter (`shared/events.ts`) by {@link observeSay}.
 */

import { type AppError, toAppError } from '../shared/errors.js';
import type { EventHub } from '../shared/events.js';
import type { SayRequest } from './request.js';
import type { SayResult, SayService } from './service.js';

/** One finished say, successful (`result`) or not (`error`), from any input. */
export interface SayEvent {
  /** When it finished. */
  at: Date;
  request: SayRequest;
  result?: SayResult;
  error?: AppError;
}

/** Event name → payload of the say domain's events. */
export interface SayEvents {
  /** A say finished (any input: MQTT, HTTP, OpenAI, Wyoming, schedules). */
  say: SayEvent;
}

/**
 * Wraps a say service so every finished say (ok or failed) is emitted as `say` on `events`; the wrapped
 * service behaves exactly like the original (same results, same errors, same abort behaviour).
 */
export function observeSay(service: SayService, events: EventHub<SayEvents>): SayService {
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
