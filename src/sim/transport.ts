/**
 * How simulated devices reach the server. By default `fetch`, from this host's address; with
 * source addresses, each device connects from its own loopback address (Linux routes all of
 * 127.0.0.0/8 to lo), so the server's per-source defences see a fleet rather than one host.
 * A device speaks to several routes (uploads, `/changes`, commands, OTA) over the same link.
 */
import http from 'node:http';
import { V2_RESPONSE_MAC_HEADER } from '../protocol/v2-response.js';

export interface PostAnswer {
  status: number;
  text: string;
  /** `X-EcoWatt-MAC` of the answer (v2 devices check it); absent when the server sent none. */
  mac?: string;
}

export type Poster = (body: string) => Promise<PostAnswer>;

/** One request of a device: a route of the server, and the (sealed) JSON body for a POST. */
export interface DeviceRequest {
  method: 'GET' | 'POST';
  /** Path and query, e.g. `/changes` or `/commands/sim-0001/poll`. */
  path: string;
  body?: string;
}

export type Requester = (request: DeviceRequest) => Promise<PostAnswer>;

/**
 * `count` distinct loopback addresses (up to 65,024) in 127.1.0.0/16, away from 127.0.0.1 (the
 * host's own traffic), with host parts 1–254.
 */
export function loopbackAddresses(count: number): string[] {
  if (count > 256 * 254) throw new RangeError('at most 65024 loopback source addresses');
  return Array.from({ length: count }, (_, i) => `127.1.${Math.floor(i / 254)}.${(i % 254) + 1}`);
}

/** `fetch` against the server at `baseUrl` (a path in it prefixes every route). */
export function fetchRequester(baseUrl: string): Requester {
  const base = baseUrl.replace(/\/+$/, '');
  return async ({ method, path, body }) => {
    const res = await fetch(`${base}${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body } : {}),
    });
    const mac = res.headers.get(V2_RESPONSE_MAC_HEADER);
    return { status: res.status, text: await res.text(), ...(mac !== null ? { mac } : {}) };
  };
}

/** Every request over one keep-alive connection bound to `localAddress`. */
export function boundRequester(
  baseUrl: string,
  localAddress: string,
): { request: Requester; close: () => void } {
  const url = new URL(baseUrl);
  const prefix = url.pathname.replace(/\/+$/, '');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
  const request: Requester = ({ method, path, body }) =>
    new Promise((resolve, reject) => {
      const payload = body !== undefined ? Buffer.from(body) : undefined;
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: `${prefix}${path}`,
          method,
          agent,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const mac = res.headers[V2_RESPONSE_MAC_HEADER];
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              ...(typeof mac === 'string' ? { mac } : {}),
            });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return { request, close: () => agent.destroy() };
}

/** A requester narrowed to POSTs of one route (the upload endpoint). */
export function posterOf(requester: Requester, path: string): Poster {
  return (body) => requester({ method: 'POST', path, body });
}

export function fetchPoster(endpoint: string): Poster {
  const url = new URL(endpoint);
  return posterOf(fetchRequester(url.origin), `${url.pathname}${url.search}`);
}

/** POSTs to `endpoint` over one keep-alive connection bound to `localAddress`. */
export function boundPoster(endpoint: string, localAddress: string): { post: Poster; close: () => void } {
  const url = new URL(endpoint);
  const bound = boundRequester(url.origin, localAddress);
  return { post: posterOf(bound.request, `${url.pathname}${url.search}`), close: bound.close };
}
