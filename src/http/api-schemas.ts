/**
 * Schemas every capability's routes share: the one error answer, common parameters and the
 * building blocks of answers. Routes declare params, query, body and responses with these (and
 * their own) TypeBox schemas; Fastify validates and serialises with them and `/api/openapi.json`
 * is generated from them (http/openapi/).
 */
import type { FastifyInstance } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { ERROR_CODES, type ErrorCode } from '../model/errors.js';
import type { Role } from '../model/operator.js';

/** `{"error", "message", "request_id", "details"?}`: what every failure answers (model/errors.ts). */
export const ErrorAnswer = Type.Object(
  {
    error: Type.String({ description: 'A stable code (docs/http-api.md "Error codes").' }),
    message: Type.String(),
    request_id: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'ErrorAnswer', title: 'ErrorAnswer', additionalProperties: false },
);

const ERROR_REF = Type.Ref('ErrorAnswer');

/** Registers the shared schemas `Type.Ref` names; before any route. */
export function addSharedSchemas(app: FastifyInstance): void {
  app.addSchema(ErrorAnswer);
}

/**
 * The error answers a route can give, by status, each naming its codes. Every route gets 400 and
 * 500 (a malformed request, an internal error) and 503 (storage down); pass the codes it adds.
 */
export function errorAnswers(...codes: ErrorCode[]): Record<number, TSchema> {
  const byStatus = new Map<number, Set<string>>();
  for (const code of [
    'invalid_parameter',
    'internal_error',
    'storage_unavailable',
    ...codes,
  ] as ErrorCode[]) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, (byStatus.get(status) ?? new Set()).add(code));
  }
  return Object.fromEntries(
    [...byStatus].map(([status, set]) => [
      status,
      Type.Unsafe({ ...ERROR_REF, description: [...set].map((c) => `\`${c}\``).join(', ') }),
    ]),
  );
}

/**
 * An admin route's error answers with those of its role check (admin-auth.ts): no credentials;
 * a role too low (not for viewer routes); a change by cookie without its CSRF token.
 */
export function roleRouteErrors(need: Role, change: boolean, ...codes: ErrorCode[]): Record<number, TSchema> {
  const access: ErrorCode[] = ['unauthorized'];
  if (need !== 'viewer') access.push('forbidden');
  if (change) access.push('csrf_failed');
  return errorAnswers(...access, ...codes);
}

/** `null` or the schema's value (the API writes absent values as `null`). */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** An ISO 8601 time as the API writes it (`2026-12-06T13:45:40.000Z`). */
export const IsoTime = Type.String({ format: 'date-time' });

export const IdParams = Type.Object({ id: Type.String({ minLength: 1 }) });

/** `?limit=N`: 1 to `max`, `dflt` when absent. */
export const Limit = (dflt: number, max: number) =>
  Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: max,
      default: dflt,
      description: `How many to return (default ${dflt}, at most ${max}).`,
    }),
  );

/** A time in a query: ISO 8601, or epoch seconds (≤ 11 digits) or milliseconds. */
export const QueryTime = Type.Optional(
  Type.String({
    // Empty is absent, as a form with a blank field sends it.
    pattern: '^(|\\d{1,16}|\\d{4}-\\d{2}-\\d{2}.*)$',
    description: 'an ISO 8601 time, or epoch seconds (up to 11 digits) or milliseconds',
  }),
);

/** `?register=Vac1,PAC,9`: register names (any naming style) or RegIDs, comma-separated. */
export const QueryRegisters = Type.Optional(
  Type.String({
    minLength: 1,
    description: 'register names (any naming style) or RegIDs, separated by commas',
  }),
);

/** A body that is only an optional `reason` for the audit log. */
export const ReasonBody = Type.Object(
  { reason: Type.Optional(Nullable(Type.String({ description: 'Why, for the audit log.' }))) },
  { additionalProperties: false },
);

/** A JSON object whose keys the route checks itself (configuration keys, free-form details). */
export const AnyObject = Type.Record(Type.String(), Type.Unknown());

/**
 * Route options for a device-facing route: its schemas document the wire format in
 * `/api/openapi.json`, while the protocol stages keep checking it, so every answer stays
 * byte-exact, in the precedence PROTOCOL.md §10 gives, and serialised as plain JSON.
 */
export const deviceProtocol = {
  validatorCompiler: () => () => true,
  serializerCompiler: () => (data: unknown) => JSON.stringify(data),
} as const;
