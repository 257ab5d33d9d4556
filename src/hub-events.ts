/**
 * Every event the hub emits: the union of each domain's event map, for the one typed emitter the composition
 * root creates (`shared/events.ts`) and the adapters that stream them (the panel's `GET /api/events`).
 */
import type { RecorderEvents } from './recorder/events.js';
import type { SayEvents } from './say/events.js';

/** Event name → payload of every event the hub emits. */
export type HubEvents = SayEvents & RecorderEvents;
