/**
 * Zod schemas the routes share, for validation (fastify-type-provider-zod) and the OpenAPI document
 * (src/http/openapi.ts). Response schemas describe; the serializer does not re-check them (see server.ts).
 */
import { z } from 'zod';

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
