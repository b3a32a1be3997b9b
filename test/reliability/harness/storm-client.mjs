#!/usr/bin/env node
import { readFileSync } from 'node:fs';
/**
 * A request storm from many source addresses (127.0.0.0/8 is all loopback on Linux), in a process
 * of its own so that the load it generates does not run on the event loop that measures the
 * legitimate devices. Bounded by rate and time; prints one JSON summary line when done.
 *
 *   node storm-client.mjs <url> <bodies.jsonl> <rate/s> <seconds> <addresses> <connections>
 */
import http from 'node:http';

const [url, file, rateArg, secondsArg, addressesArg, connectionsArg] = process.argv.slice(2);
const target = new URL('/process', url);
const bodies = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.length > 0)
  .map((l) => Buffer.from(JSON.parse(l)));
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const addresses = Array.from(
  { length: Number(addressesArg) },
  (_, i) => `127.0.${1 + Math.floor(i / 254)}.${1 + (i % 254)}`,
);
const connections = Number(connectionsArg);
const agents = addresses.map(
  (localAddress) =>
    new http.Agent({
      keepAlive: true,
      maxSockets: Math.max(1, Math.ceil(connections / addresses.length)),
      localAddress,
    }),
);

const statuses = {};
let sent = 0;
let errors = 0;
let inFlight = 0;
let next = 0;

function fire() {
  const i = sent++;
  const body = bodies[next++ % bodies.length];
  inFlight++;
  const req = http.request(
    {
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      agent: agents[i % agents.length],
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    },
    (res) => {
      res.resume();
      res.on('end', () => {
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        inFlight--;
      });
    },
  );
  req.on('error', () => {
    errors++;
    inFlight--;
  });
  req.end(body);
}

const started = performance.now();
const deadline = started + seconds * 1000;
// Paced in small slices; never more requests in flight than connections, so a slow server
// lowers the storm's rate instead of piling up sockets.
const timer = setInterval(() => {
  const now = performance.now();
  if (now >= deadline) {
    clearInterval(timer);
    const wait = setInterval(() => {
      if (inFlight === 0 || performance.now() > deadline + 10_000) {
        clearInterval(wait);
        for (const a of agents) a.destroy();
        const elapsed = (performance.now() - started) / 1000;
        process.stdout.write(
          `${JSON.stringify({ sent, errors, statuses, seconds: elapsed, rate: sent / elapsed })}\n`,
        );
      }
    }, 50);
    return;
  }
  const due = Math.floor(((now - started) / 1000) * rate) - sent;
  for (let k = 0; k < due && inFlight < connections; k++) fire();
}, 5);
