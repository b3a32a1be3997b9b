/**
 * How simulated devices reach the server. By default `fetch`, from this host's address; with
 * source addresses, each device connects from its own loopback address (Linux routes all of
 * 127.0.0.0/8 to lo), so the server's per-source defences see a fleet rather than one host.
 */
import http from 'node:http';

export interface PostAnswer {
  status: number;
  text: string;
}

export type Poster = (body: string) => Promise<PostAnswer>;

/**
 * `count` distinct loopback addresses (up to 65,024) in 127.1.0.0/16, away from 127.0.0.1 (the
 * host's own traffic), with host parts 1–254.
 */
export function loopbackAddresses(count: number): string[] {
  if (count > 256 * 254) throw new RangeError('at most 65024 loopback source addresses');
  return Array.from({ length: count }, (_, i) => `127.1.${Math.floor(i / 254)}.${(i % 254) + 1}`);
}

export function fetchPoster(endpoint: string): Poster {
  return async (body) => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return { status: res.status, text: await res.text() };
  };
}

/** POSTs over one keep-alive connection bound to `localAddress`. */
export function boundPoster(endpoint: string, localAddress: string): { post: Poster; close: () => void } {
  const url = new URL(endpoint);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
  const post: Poster = (body) =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(body);
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': payload.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return { post, close: () => agent.destroy() };
}
