/**
 * Uploads committed by this process, kept briefly for the MQTT relay, so that it need not read
 * each one back from storage moments after storing it. The blocks are the very values the commit
 * wrote (the relay still builds from storage whatever is not here: after a restart, a rewind, a
 * broker outage longer than the cache, or a record another instance committed). The runtime sees
 * them only as its outbox's `uploadBlocks` (`withRecentUploads`): its one source of blocks.
 */

import type { Outbox, UploadBlocks } from '../ports/outbox.js';
import type { CommittedUpload } from '../ports/upload-feed.js';

/** What `Outbox.uploadBlocks` returns for this upload: its decoded packets not stored before. */
export function committedBlocks(u: CommittedUpload): UploadBlocks {
  const duplicates = new Set(u.duplicatePackets);
  const packets: UploadBlocks['packets'] = [];
  for (const p of u.packets) {
    if (p.block === null || duplicates.has(p.index)) continue;
    packets.push({ index: p.index, method: p.method, block: p.block });
  }
  packets.sort((a, b) => a.index - b.index);
  return { uploadId: u.uploadId, deviceId: u.deviceId, receivedAt: u.receivedAt, nonce: u.nonce, packets };
}

export class RecentUploads {
  private readonly uploads = new Map<string, UploadBlocks>();
  /**
   * Uploads the relay asked for before this process learnt of their commit (it can read a record
   * as soon as the writer commits, before the commit's answer is handled): never kept afterwards.
   */
  private readonly missed = new Set<string>();

  /** `capacity`: uploads kept; beyond it the oldest are dropped (and read from storage if needed). */
  constructor(private readonly capacity = 10_000) {}

  remember(u: CommittedUpload): void {
    if (this.missed.delete(u.uploadId)) return;
    bounded(this.uploads, this.capacity);
    this.uploads.set(u.uploadId, committedBlocks(u));
  }

  /** The upload's blocks, once: the relay publishes each record once (a rewind reads storage). */
  take(uploadId: string): UploadBlocks | undefined {
    const u = this.uploads.get(uploadId);
    if (u) this.uploads.delete(uploadId);
    else {
      bounded(this.missed, this.capacity);
      this.missed.add(uploadId);
    }
    return u;
  }

  get size(): number {
    return this.uploads.size;
  }
}

/** `outbox`, answering `uploadBlocks` from `recent` when it holds the upload. */
export function withRecentUploads(outbox: Outbox, recent: Pick<RecentUploads, 'take'>): Outbox {
  return {
    pendingOutbox: (limit, afterId) => outbox.pendingOutbox(limit, afterId),
    markPublished: (ids) => outbox.markPublished(ids),
    outboxStats: () => outbox.outboxStats(),
    uploadBlocks: async (uploadId) => recent.take(uploadId) ?? outbox.uploadBlocks(uploadId),
  };
}

/** Makes room for one more entry by dropping the oldest (Maps and Sets iterate in insertion order). */
function bounded(c: Map<string, unknown> | Set<string>, capacity: number): void {
  if (c.size < capacity) return;
  const oldest = c.keys().next();
  if (!oldest.done) c.delete(oldest.value);
}
