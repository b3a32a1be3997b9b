/**
 * The baseline of `npm run bench`: the least any durable ingestion server must do per upload on
 * this machine. It receives the HTTP request, parses the JSON envelope, verifies its HMAC, appends
 * one row holding the upload to SQLite (WAL, synchronous=FULL) in group commits, and answers 200
 * once the commit is durable. No replay state, no decoding, no outbox: a floor, not a product.
 */
import http from 'node:http';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { FIELD_KEYS, openV1, parseV1Envelope } from '../src/protocol/envelope-v1.js';

const dataDir = process.env.FLOOR_DATA_DIR;
if (!dataDir) throw new Error('FLOOR_DATA_DIR is required');
const db = new BetterSqlite3(path.join(dataDir, 'floor.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(
  'CREATE TABLE IF NOT EXISTS uploads (id INTEGER PRIMARY KEY, nonce INTEGER NOT NULL, body TEXT NOT NULL)',
);
const insert = db.prepare('INSERT INTO uploads (nonce, body) VALUES (?, ?)');

interface Pending {
  nonce: number;
  body: string;
  res: http.ServerResponse;
}
let group: Pending[] = [];
// Requests that arrive while a group commits (the fsync blocks this thread) form the next group.
const commitGroup = db.transaction((rows: Pending[]) => {
  for (const r of rows) insert.run(r.nonce, r.body);
});

function flush(): void {
  const rows = group;
  group = [];
  commitGroup(rows);
  for (const r of rows) answer(r.res, 200, `{"status":"success","nonce":${r.nonce}}`);
}

function answer(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return answer(res, 400, '{"error":"malformed_json"}');
    }
    const parsed = parseV1Envelope(doc);
    if (!parsed.ok) return answer(res, 400, `{"error":"${parsed.code}"}`);
    const opened = openV1(parsed.envelope, [FIELD_KEYS]);
    if (!opened.ok) return answer(res, 401, `{"error":"${opened.code}"}`);
    if (group.length === 0) setImmediate(flush);
    group.push({ nonce: opened.nonce, body, res });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  if (a && typeof a === 'object') process.stderr.write(`listening on http://127.0.0.1:${a.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
