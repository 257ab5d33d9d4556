import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { DoctorReport } from '../../doctor/index.js';
import { figures, useZodSchemas } from '../schemas.js';

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
  useZodSchemas(app);
  let running: Promise<DoctorReport> | undefined;
  const Report = figures("The doctor's report", {
    green: z.boolean(),
    counts: z.object({ ok: z.number(), info: z.number(), warn: z.number(), fail: z.number() }),
    findings: z.array(
      z.looseObject({
        check: z.string(),
        status: z.string(),
        message: z.string(),
        fix: z.string().optional(),
      }),
    ),
  });
  const schema = { summary: "Run the doctor's checks", tags: ['status'], response: { 200: Report } };
  app.get('/api/doctor', { schema }, async () => {
    running ??= opts.doctor().finally(() => {
      running = undefined;
    });
    return running;
  });
};
