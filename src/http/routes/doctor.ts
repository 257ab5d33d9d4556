import type { FastifyPluginAsync } from 'fastify';
import type { DoctorReport } from '../../doctor/index.js';

/**
 * GET /api/doctor: runs the doctor's checks in the running hub (src/doctor/) and answers its report:
 * `{green, counts: {ok, info, warn, fail}, findings: [{check, status, message, fix?}], took_ms}`, always 200
 * (the report itself says what is wrong). Requests while a run is going share that run: each run speaks a
 * short sentence on every engine instance, which must not pile up.
 */
export const doctorRoutes: FastifyPluginAsync<{ doctor: () => Promise<DoctorReport> }> = async (
  app,
  opts,
) => {
  let running: Promise<DoctorReport> | undefined;
  app.get('/api/doctor', async () => {
    running ??= opts.doctor().finally(() => {
      running = undefined;
    });
    return running;
  });
};
