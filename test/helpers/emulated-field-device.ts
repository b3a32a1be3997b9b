/**
 * A field device for end-to-end tests of remote configuration: it uploads on its own timers (in
 * device time, so tests need not wait) and applies `/changes` answers the way e84f720 does, right
 * after its next upload (PROTOCOL.md §1.2, §5.3).
 */
import { DeviceCompressor } from '../../src/protocol/codecs/device-compressor.js';
import { FIELD_KEYS, sealV1, type V1Keys } from '../../src/protocol/envelope-v1.js';
import { BATCH_LAYOUT } from '../../src/protocol/registers.js';
import { buildUploadJson } from '../../src/protocol/upload-json.js';
import { emulateCheckChanges } from './field-changes.js';
import { typicalBatch } from './uploads.js';

export class EmulatedFieldDevice {
  millis = 100_000;
  pollSeconds = 2;
  uploadSeconds = 15;
  private nextPacketAt: number;
  private pending: { poll?: number; upload?: number } = {};
  private readonly compressor = new DeviceCompressor();

  constructor(
    readonly id: string,
    private nonce = 10_000,
    private readonly keys: V1Keys = FIELD_KEYS,
  ) {
    this.nextPacketAt = this.millis + 5 * this.pollSeconds * 1000;
  }

  /** What `checkChanges` does with an answer: store the timers, apply them after the next upload. */
  receiveChanges(answer: unknown): void {
    const effect = emulateCheckChanges(answer);
    const freq = effect.nvs_after.freq;
    if (freq?.poll_freq) this.pending.poll = effect.poll_freq_us_effective / 1e6;
    if (freq?.upload_freq) this.pending.upload = effect.upload_freq_us_effective / 1e6;
  }

  /** Runs the device until its next upload and returns the sealed upload body. */
  nextUpload(): string {
    const end = this.millis + this.uploadSeconds * 1000;
    const packets = [];
    while (this.nextPacketAt <= end) {
      const { bytes, label } = this.compressor.compressBatch(typicalBatch(packets.length));
      packets.push({
        bytes,
        label,
        timestamp: this.nextPacketAt,
        compressionTimeUs: 40,
        registerLayout: BATCH_LAYOUT,
      });
      this.nextPacketAt += 5 * this.pollSeconds * 1000;
    }
    this.millis = end;
    this.nonce++;
    const json = buildUploadJson({
      deviceId: this.id,
      timestamp: this.millis,
      packets,
      usage: { dictionary: packets.length, temporal: 0, semantic: 0, bitpack: 0 },
    });
    // Re-arming the timer with the value it has changes nothing; the batch in progress goes on.
    if (this.pending.poll !== undefined && this.pending.poll !== this.pollSeconds) {
      this.pollSeconds = this.pending.poll;
      this.nextPacketAt = this.millis + 5 * this.pollSeconds * 1000;
    }
    if (this.pending.upload !== undefined) this.uploadSeconds = this.pending.upload;
    this.pending = {};
    return sealV1(Buffer.from(json), { nonce: this.nonce, keys: this.keys, encrypt: false });
  }

  /** Seals a control request body with the device's next nonce (the same sequence as uploads). */
  sealed(doc: Record<string, unknown>): string {
    this.nonce++;
    return sealV1(Buffer.from(JSON.stringify({ device_id: this.id, ...doc })), {
      nonce: this.nonce,
      keys: this.keys,
      encrypt: false,
    });
  }
}
