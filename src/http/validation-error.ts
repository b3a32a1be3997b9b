/**
 * Turns a schema validation failure into the API's `invalid_parameter` answer: the field named as
 * a client wrote it (`limit`, `policy.replay`, `items.0.name`) and a message in the words the
 * hand-written checks used, so clients see one vocabulary whichever layer refused them.
 */
import type { FastifySchemaValidationError } from 'fastify';

export interface InvalidField {
  field: string;
  message: string;
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'an array',
  null: 'null',
};

interface FailedSchema {
  type?: unknown;
  description?: unknown;
  minimum?: unknown;
  maximum?: unknown;
}

function describe(e: FastifySchemaValidationError): string {
  const params = e.params as Record<string, unknown>;
  // With `verbose`, Ajv hands over the schema that failed.
  const parent = (e as { parentSchema?: FailedSchema }).parentSchema;
  const numeric = parent?.type === 'integer' || parent?.type === 'number';
  if (numeric && typeof parent?.minimum === 'number' && typeof parent.maximum === 'number') {
    if (['type', 'minimum', 'maximum'].includes(e.keyword))
      return `expected ${TYPE_WORDS[String(parent.type)]} from ${parent.minimum} to ${parent.maximum}`;
  }
  switch (e.keyword) {
    case 'required':
      return 'required';
    case 'additionalProperties':
      return 'not a field this route takes';
    case 'type':
      return `expected ${String(params.type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ')}`;
    case 'enum':
    case 'const': {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [params.allowedValue];
      return `expected ${allowed.map((v) => JSON.stringify(v)).join(' or ')}`;
    }
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `expected at least ${params.limit} characters`;
    case 'maxLength':
      return `expected at most ${params.limit} characters`;
    default:
      // A pattern or format: its schema's description names what is expected.
      return typeof parent?.description === 'string'
        ? `expected ${parent.description}`
        : (e.message ?? 'invalid');
  }
}

/** The first failure of a validation error, as a field and a message. */
export function invalidField(
  errors: readonly FastifySchemaValidationError[],
  context: string | undefined,
): InvalidField {
  const e = errors[0];
  if (!e) return { field: context ?? 'request', message: 'invalid' };
  const params = e.params as Record<string, unknown>;
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  const extra = params.missingProperty ?? params.additionalProperty;
  if (typeof extra === 'string') path.push(extra);
  const field = path.length > 0 ? path.join('.') : (context ?? 'request');
  return { field, message: `${field}: ${describe(e)}` };
}
