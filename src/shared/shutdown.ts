/**
 * Shutdown budget (SIGTERM handling, DESIGN "Running"): in-flight work gets this long to finish before it is
 * cancelled, in ms. The one definition: `main.ts`, the hub's and the say service's `stop` default to it.
 */
export const SHUTDOWN_GRACE_MS = 8000;
