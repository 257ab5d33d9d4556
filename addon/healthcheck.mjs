// Docker HEALTHCHECK of the add-on image (Dockerfile): exits 0 when the hub answers GET /api/health with a 2xx
// status within 8 s, else 1 with the reason on stderr. The port is the add-on's HTTP container port
// (src/config/addon-ports.ts); TTS_HUB_HEALTH_URL replaces the whole URL (tests).
const url = process.env.TTS_HUB_HEALTH_URL || 'http://127.0.0.1:8099/api/health';
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(8000) });
  if (!res.ok) {
    console.error(`healthcheck: ${url} answered ${res.status}`);
    process.exit(1);
  }
  process.exit(0);
} catch (err) {
  console.error(`healthcheck: ${url}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
