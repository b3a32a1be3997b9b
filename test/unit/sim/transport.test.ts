import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { boundPoster, loopbackAddresses } from '../../../src/sim/transport.js';

describe('loopbackAddresses', () => {
  it('gives distinct, valid addresses away from 127.0.0.1', () => {
    const all = loopbackAddresses(1000);
    expect(new Set(all).size).toBe(1000);
    for (const a of all) {
      const parts = a.split('.').map(Number);
      expect(parts[0]).toBe(127);
      expect(parts[1]).toBe(1);
      expect(parts[3]).toBeGreaterThanOrEqual(1);
      expect(parts[3]).toBeLessThanOrEqual(254);
    }
    expect(all[1]).toBe('127.1.0.2');
    expect(() => loopbackAddresses(70_000)).toThrow(RangeError);
  });
});

describe('boundPoster', () => {
  it('posts JSON from the address it is bound to', async () => {
    const seen: { address: string | undefined; body: string; type: string | undefined }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        seen.push({ address: req.socket.remoteAddress, body, type: req.headers['content-type'] });
        res.writeHead(201).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const poster = boundPoster(`http://127.0.0.1:${port}/process`, '127.1.0.7');
    try {
      expect(await poster.post('{"a":1}')).toEqual({ status: 201, text: '{"ok":true}' });
      expect(await poster.post('{"a":2}')).toEqual({ status: 201, text: '{"ok":true}' });
    } finally {
      poster.close();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(seen).toEqual([
      { address: '127.1.0.7', body: '{"a":1}', type: 'application/json' },
      { address: '127.1.0.7', body: '{"a":2}', type: 'application/json' },
    ]);
  });
});
