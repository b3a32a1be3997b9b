/**
 * The baseline for `npm run bench`: a bare Fastify route that only parses the JSON envelope and
 * verifies its HMAC, i.e. the least any secure ingestion server must do per upload.
 */
import Fastify from 'fastify';
import { FIELD_KEYS, openV1, parseV1Envelope } from '../src/protocol/envelope-v1.js';

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
app.post('/process', async (request, reply) => {
  const parsed = parseV1Envelope(request.body);
  if (!parsed.ok) return reply.code(400).send({ error: parsed.code });
  const opened = openV1(parsed.envelope, [FIELD_KEYS]);
  if (!opened.ok) return reply.code(401).send({ error: opened.code });
  return { status: 'success', nonce: opened.nonce };
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stderr.write(`listening on ${address}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
