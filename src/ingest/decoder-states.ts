/**
 * Each device's decoder state (e84f720: its mirrored dictionary; 1.3: its temporal history) after
 * its last accepted upload. Kept in memory when one process owns the store, so an upload need not
 * read it back; otherwise read from what the last commit stored, since another instance may have
 * taken the device's previous upload.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { storageCall } from '../http/storage-call.js';
import type { Generation } from '../model/device.js';
import type { Storage } from '../ports/storage.js';
import type { GenerationDecoder, UploadHeader } from './generation-decoder.js';

/** Devices whose decoder state stays in memory (others are read back from storage). */
const DECODER_CACHE_SIZE = 50_000;

export class DecoderStates {
  private readonly cache = new Map<string, { generation: Generation; state: unknown }>();

  constructor(
    private readonly storage: Pick<Storage, 'loadDecoderState'>,
    private readonly cached: boolean,
    private readonly log: Logger,
  ) {}

  /** A copy this upload may change: it is kept (`remember`) only if the upload is accepted. */
  async load<D extends UploadHeader, S>(decoder: GenerationDecoder<D, S>, deviceId: string): Promise<S> {
    const entry = this.cached ? this.cache.get(deviceId) : undefined;
    // The entry was stored by this same decoder (same generation), so it holds an S.
    if (entry?.generation === decoder.generation) return decoder.cloneState(entry.state as S);
    const stored = await storageCall(this.log, 'storage read', async () =>
      this.storage.loadDecoderState?.(deviceId),
    );
    return decoder.loadState(stored ?? null);
  }

  remember(deviceId: string, generation: Generation, state: unknown): void {
    if (!this.cached) return;
    // Refreshing the entry keeps recently active devices at the end; the oldest go first.
    this.cache.delete(deviceId);
    this.cache.set(deviceId, { generation, state });
    if (this.cache.size > DECODER_CACHE_SIZE) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}
