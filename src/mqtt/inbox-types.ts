/** The request inbox's public types (request-inbox.ts), apart so the adapters import only these. */
import type { IPublishPacket } from 'mqtt';
import type { DeliveryLedger } from '../say/types.js';
import type { AppError } from '../shared/errors.js';
import type { MqttBus } from './client.js';

/** A request as its handler sees it (fresh or replayed from the journal). */
export interface InboxMessage {
  topic: string;
  payload: Buffer;
  /** MQTT 5 response topic and correlation data of the original publish. */
  responseTopic?: string;
  correlationData?: Buffer;
  /** True when it comes from a journal (after a restart, or taken over from another hub). */
  replayed: boolean;
  /** ms since the epoch when a hub took it (before a restart or a takeover, for a replayed one). */
  receivedAt: number;
  /** MQTT 5 message expiry interval the broker forwarded (seconds left at arrival), when the publish had one. */
  expiryS?: number;
}

/** What a handler gets besides the message. */
export interface InboxContext {
  /** Aborts when the hub's grace time is over. */
  signal: AbortSignal;
  /** What the request's targets already got (a replay does not play them again). */
  ledger: DeliveryLedger;
  /** True once the hub is stopping: a failure then is left for the next start, not answered. */
  stopping(): boolean;
  /**
   * Set when the request was started `mqtt.max_attempts` times already (the hub died during each): the
   * handler must not run it again but answer this REQUEST_ABANDONED error, and resolve true.
   */
  abandoned?: AppError;
}

/**
 * Works on one request and answers it. Resolves true when it is finished (answered, or refused with an
 * error result), false when it was left unfinished because the hub is stopping: then it must not have
 * answered, and it is replayed at the next start.
 */
export type InboxHandler = (msg: InboxMessage, ctx: InboxContext) => Promise<boolean>;

/** Figures for status and health. */
export interface InboxDepth {
  /** Requests being worked on. */
  running: number;
  /** Requests waiting their turn. */
  queued: number;
  /** Unfinished requests in the journal (running and waiting). */
  journaled: number;
}

/** The inbox. */
export interface RequestInbox {
  /**
   * Subscribes `filter` (QoS 1, manual PUBACK; in the share group when the bus has one) and routes its
   * messages to `handler`. Call before `open()`.
   * A message over `limits.maxPayloadBytes` is neither journaled nor looked into for its priority: it goes
   * straight to the handler, which refuses it (PAYLOAD_TOO_LARGE), and is acknowledged then.
   */
  subscribe(
    bus: MqttBus,
    filter: string,
    handler: InboxHandler,
    priorityOf?: (payload: Buffer) => 'high' | 'normal',
    limits?: { maxPayloadBytes?: number | undefined },
  ): Promise<void>;
  /** Filters subscribed so far (without the share prefix). */
  filters(): string[];
  /**
   * Takes a request that arrived on another hub's broker session (session-takeover.ts): keys it with that
   * hub's client id `session`, and only acknowledges (never runs) one that hub's journal already holds
   * (`theirs`: its keys). False when no route matches the topic (the caller acknowledges and drops it).
   */
  takeMessage(
    packet: IPublishPacket,
    ack: () => boolean,
    session: string,
    theirs: ReadonlySet<string>,
  ): boolean;
  /** Claims another hub's journal file and queues its unfinished requests; resolves with how many. */
  takeJournal(path: string): Promise<number>;
  /** Opens the journal and queues its unfinished requests; nothing runs before `run()`. */
  open(): Promise<void>;
  /**
   * Starts working (call once the bus is connected, so answers can be published). When another hub claimed
   * this hub's journal while it was away, the requests replayed from it are dropped (that hub runs them).
   */
  run(): Promise<void>;
  /**
   * Takes nothing new, lets running requests finish within `graceMs`, then aborts the rest (they stay in the
   * journal) and closes the journal.
   */
  stop(graceMs: number): Promise<void>;
  depth(): InboxDepth;
}
