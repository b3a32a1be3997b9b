/**
 * Schema failures answered in the API's own words: each keyword a route schema uses becomes
 * `invalid_parameter` with the field as a client wrote it and a message saying what is expected.
 * Runs the server's own Fastify instance (its Ajv options, its error handler) in memory.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryTime } from '../../../src/http/api-schemas.js';
import { createHttpServer } from '../../../src/http/http-server.js';
import { registerJsonBody } from '../../../src/http/json-body.js';

let http: FastifyInstance;

beforeAll(async () => {
  http = createHttpServer({
    mode: 'development',
    host: '127.0.0.1',
    port: 0,
    adminToken: undefined,
    bodyLimit: 1 << 20,
    requestTimeoutMs: 5000,
    logLevel: 'silent',
    trustProxy: undefined,
    metricsToken: undefined,
    workers: 1,
  });
  registerJsonBody(http);
  http.withTypeProvider<TypeBoxTypeProvider>().post(
    '/things/:id',
    {
      schema: {
        params: Type.Object({ id: Type.String({ minLength: 3 }) }),
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
          from: QueryTime,
        }),
        body: Type.Object(
          {
            name: Type.String({ maxLength: 8 }),
            kind: Type.Optional(Type.Enum(['v1', 'v2'])),
            on: Type.Optional(Type.Boolean()),
            policy: Type.Optional(Type.Object({ replay: Type.String() }, { additionalProperties: false })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async () => ({ ok: true }),
  );
  await http.ready();
});

afterAll(async () => {
  await http.close();
});

async function refusal(url: string, body: unknown) {
  const res = await http.inject({
    method: 'POST',
    url,
    payload: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  expect(res.statusCode, res.body).toBe(400);
  const json = res.json();
  expect(json.error).toBe('invalid_parameter');
  expect(typeof json.request_id).toBe('string');
  return { message: json.message as string, field: json.details?.field as string };
}

describe('schema failures as invalid_parameter', () => {
  it('names a missing, an unknown and a mistyped body field', async () => {
    expect(await refusal('/things/abc', {})).toEqual({ field: 'name', message: 'name: required' });
    expect(await refusal('/things/abc', { name: 'a', nmae: 'b' })).toEqual({
      field: 'nmae',
      message: 'nmae: not a field this route takes',
    });
    // A JSON body is checked as sent: no quiet coercion of a number to a string or "true" to true.
    expect(await refusal('/things/abc', { name: 5 })).toEqual({
      field: 'name',
      message: 'name: expected a string',
    });
    expect(await refusal('/things/abc', { name: 'a', on: 'true' })).toEqual({
      field: 'on',
      message: 'on: expected true or false',
    });
    expect(await refusal('/things/abc', { name: 'a', on: 'yes' })).toEqual({
      field: 'on',
      message: 'on: expected true or false',
    });
    expect(await refusal('/things/abc', { name: 'a', kind: 'v3' })).toEqual({
      field: 'kind',
      message: 'kind: expected "v1" or "v2"',
    });
    expect(await refusal('/things/abc', { name: 'much-too-long' })).toEqual({
      field: 'name',
      message: 'name: expected at most 8 characters',
    });
  });

  it('names a nested field by its path, and a body that is not an object', async () => {
    expect(await refusal('/things/abc', { name: 'a', policy: { replay: 5 } })).toEqual({
      field: 'policy.replay',
      message: 'policy.replay: expected a string',
    });
    expect(await refusal('/things/abc', { name: 'a', policy: { replay: 'strict', x: 1 } })).toEqual({
      field: 'policy.x',
      message: 'policy.x: not a field this route takes',
    });
    expect(await refusal('/things/abc', [1])).toEqual({
      field: 'body',
      message: 'body: expected a JSON object',
    });
  });

  it('words a range, a pattern and a too-short path parameter', async () => {
    for (const limit of ['0', '51', 'ten', '2.5']) {
      expect(await refusal(`/things/abc?limit=${limit}`, { name: 'a' })).toEqual({
        field: 'limit',
        message: 'limit: expected an integer from 1 to 50',
      });
    }
    expect(await refusal('/things/abc?from=yesterday', { name: 'a' })).toEqual({
      field: 'from',
      message: 'from: expected an ISO 8601 time, or epoch seconds (up to 11 digits) or milliseconds',
    });
    expect(await refusal('/things/ab', { name: 'a' })).toEqual({
      field: 'id',
      message: 'id: expected at least 3 characters',
    });
  });

  it('lets a valid request through, with query numbers as numbers', async () => {
    const res = await http.inject({
      method: 'POST',
      url: '/things/abc?limit=7&from=2026-12-06T10:00:00Z',
      payload: { name: 'ok', kind: 'v2', policy: { replay: 'strict' } },
    });
    expect(res.statusCode).toBe(200);
  });
});
