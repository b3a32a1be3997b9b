/** The relay's short memory of uploads this process committed. */
import { describe, expect, it } from 'vitest';
import { RecentUploads, withRecentUploads } from '../../../src/mqtt/recent-uploads.js';
import type { Outbox, UploadBlocks } from '../../../src/ports/outbox.js';
import type { PacketRecord } from '../../../src/ports/storage.js';
import type { CommittedUpload } from '../../../src/ports/upload-feed.js';

function packet(index: number, decoded = true): PacketRecord {
  return {
    index,
    deviceTimestamp: null,
    bytes: 'AAAA',
    dedupeKey: `k${index}`,
    method: decoded ? 'raw' : null,
    label: null,
    status: decoded ? 'decoded' : 'quarantined',
    reason: decoded ? null : 'bad',
    notes: [],
    block: decoded
      ? { time: 1000, step: 2000, samples: 1, layout: [0], values: [2400], quality: ['exact'] }
      : null,
  };
}

function committed(
  uploadId: string,
  packets = [packet(0)],
  duplicatePackets: number[] = [],
): CommittedUpload {
  return {
    deviceId: 'd',
    uploadId,
    nonce: 10001,
    generation: 'e84f720',
    receivedAt: 5,
    deviceTimestamp: null,
    registered: false,
    protocol: 'v1',
    nonceGap: 0,
    packets,
    duplicatePackets,
  };
}

describe('recent uploads', () => {
  it('hands each upload over once, without its quarantined and duplicate packets', () => {
    const recent = new RecentUploads();
    recent.remember(committed('1', [packet(2), packet(0), packet(1, false), packet(3)], [3]));
    const blocks = recent.take('1');
    expect(blocks).toMatchObject({ uploadId: '1', deviceId: 'd', receivedAt: 5, nonce: 10001 });
    expect(blocks?.packets.map((p) => p.index)).toEqual([0, 2]);
    expect(recent.take('1')).toBeUndefined();
  });

  it('does not keep an upload the relay already read from storage', () => {
    const recent = new RecentUploads();
    expect(recent.take('7')).toBeUndefined();
    recent.remember(committed('7'));
    expect(recent.size).toBe(0);
    recent.remember(committed('8'));
    expect(recent.size).toBe(1);
  });

  it('keeps at most its capacity, dropping the oldest', () => {
    const recent = new RecentUploads(3);
    for (let i = 1; i <= 5; i++) recent.remember(committed(String(i)));
    expect(recent.size).toBe(3);
    expect(recent.take('1')).toBeUndefined();
    expect(recent.take('2')).toBeUndefined();
    expect(recent.take('5')).toBeDefined();
  });

  it("is the outbox's source of blocks: remembered uploads first, the store for the rest", async () => {
    const stored: UploadBlocks = { uploadId: '9', deviceId: 'd', receivedAt: 1, nonce: null, packets: [] };
    const reads: string[] = [];
    const store: Outbox = {
      pendingOutbox: async () => [],
      markPublished: async () => undefined,
      outboxStats: async () => ({ depth: 0, oldestCreatedAt: null }),
      uploadBlocks: async (id) => {
        reads.push(id);
        return id === '9' ? stored : undefined;
      },
    };
    const recent = new RecentUploads();
    const outbox = withRecentUploads(store, recent);
    recent.remember(committed('1'));
    expect((await outbox.uploadBlocks('1'))?.packets.map((p) => p.index)).toEqual([0]);
    expect(await outbox.uploadBlocks('9')).toBe(stored);
    // Taken once: asked again (a rewind), the store answers.
    expect(await outbox.uploadBlocks('1')).toBeUndefined();
    expect(reads).toEqual(['9', '1']);
  });
});
