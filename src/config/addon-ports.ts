/**
 * The container ports of the add-on. The manifest (config.yaml `ports`, and `ingress_port` when it is not the
 * Supervisor's default 8099) is generated from these, so inside the add-on the hub listens where the Supervisor's
 * ingress and port mappings point. The user moves the host side in the add-on's Network settings; the options
 * `http.port` and `wyoming_server.port` apply only outside the add-on and are left out of its configuration page.
 * test/unit/packaging-manifest.test.ts checks config.yaml, the translations, the Dockerfile's HEALTHCHECK and
 * DOCS.md against them.
 */
export const ADDON_PORTS = {
  /** HTTP: the panel (ingress), the API, audio for speakers. */
  http: 8099,
  /** The Wyoming TTS server (`wyoming_server.enabled`). */
  wyoming: 10210,
} as const;

/** Options fixed by the add-on manifest (dotted paths): not offered on the add-on's configuration page. */
export const ADDON_FIXED_OPTIONS: readonly string[] = ['http.port', 'wyoming_server.port'];

/** The config.yaml `ports` key of a TCP container port, e.g. `8099/tcp` (lower case: the frontend's lookup key). */
export function portKey(port: number): string {
  return `${port}/tcp`;
}
