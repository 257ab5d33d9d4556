import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { HubMetrics } from '../../status/metrics.js';
import { useZodSchemas } from '../schemas.js';

/** GET /metrics: the Prometheus text exposition of the hub's metrics (src/status/metrics.ts). */
export const metricsRoutes: FastifyPluginAsync<{ metrics: HubMetrics }> = async (app, opts) => {
  useZodSchemas(app);
  const schema = {
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['status'],
    produces: ['text/plain'],
    response: { 200: z.string().meta({ description: 'Prometheus text exposition format 0.0.4' }) },
  };
  app.get('/metrics', { schema }, async (_request, reply) => {
    const { contentType, body } = await opts.metrics.render();
    return reply.header('Content-Type', contentType).send(body);
  });
};
