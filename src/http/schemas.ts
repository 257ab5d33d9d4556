/**
 * Zod schemas the routes share, for validation (fastify-type-provider-zod) and the OpenAPI document
 * (src/http/openapi.ts). Response schemas describe; the serializer does not re-check them (see server.ts).
 */
import type { FastifyInstance } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

/**
 * Lets `app` (a route plugin's own context, or the root) take zod schemas: fastify-type-provider-zod validates
 * params, query and body. Response schemas document the answers (OpenAPI); bodies go out as JSON.stringify
 * made them before schemas existed, so no field is stripped and no answer becomes a 500 over a schema's detail.
 * Each route plugin calls it, so a plugin works on any fastify app (tests register single plugins).
 */
export function useZodSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

/** The error body every route but `/v1/audio/speech` answers with (src/shared/errors.ts catalogue codes). */
export const ErrorResponse = z
  .looseObject({
    error: z.object({ code: z.string(), message: z.string() }),
  })
  .meta({ description: 'An error: a stable code from the catalogue and a message saying what to do' });

/**
 * A body of raw bytes (audio, a file; a stream or a Buffer on the server side): OpenAPI `type: string,
 * format: binary`.
 */
export function binary(description: string): z.ZodAny {
  return z.any().meta({ type: 'string', format: 'binary', description });
}

/** No body (204). */
export const NoContent = z.null().optional().meta({ description: 'No content' });

/**
 * A JSON object described by its main fields; others may follow. Typed as any object, so handlers answer with
 * their own payload interfaces (which have no index signature).
 */
export function figures(description: string, shape: z.ZodRawShape = {}): z.ZodType<object> {
  return z.looseObject(shape).meta({ description });
}
