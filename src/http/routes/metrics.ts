import type { FastifyPluginAsync } from 'fastify';
import type { HubMetrics } from '../../status/metrics.js';

/** GET /metrics: the Prometheus text exposition of the hub's metrics (src/status/metrics.ts). */
export const metricsRoutes: FastifyPluginAsync<{ metrics: HubMetrics }> = async (app, opts) => {
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await opts.metrics.render();
    return reply.header('Content-Type', contentType).send(body);
  });
};
