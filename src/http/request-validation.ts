/**
 * How route schemas check requests. A query string or path holds only text, so `?limit=20` is
 * coerced to the number its schema asks for; a JSON body already has types, and coercing it would
 * take `"allow_unsecured": "true"` or `"name": 5` without a word, so a body is checked as sent.
 * An unknown body field is refused rather than dropped, and a failure carries the schema that
 * failed, whose description words the message (validation-error.ts).
 */
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifySchema } from 'fastify';

const COMMON: Options = {
  useDefaults: true,
  removeAdditional: false,
  allErrors: false,
  verbose: true,
  // TypeBox writes only standard keywords; an annotation it adds must not stop start-up.
  strict: false,
};

function ajv(options: Options): Ajv {
  const instance = new Ajv({ ...COMMON, ...options });
  addFormats.default(instance);
  return instance;
}

export function registerRequestValidation(app: FastifyInstance): void {
  const text = ajv({ coerceTypes: 'array' });
  const json = ajv({ coerceTypes: false });
  const added = new Set<string>();
  app.setValidatorCompiler(({ schema, httpPart }) => {
    // Schemas registered with addSchema (api-schemas.ts) may be named by `$ref`.
    for (const [id, shared] of Object.entries(app.getSchemas())) {
      if (added.has(id)) continue;
      added.add(id);
      text.addSchema(shared as FastifySchema, id);
      json.addSchema(shared as FastifySchema, id);
    }
    return (httpPart === 'body' ? json : text).compile(schema);
  });
}
