/** A minimal valid `UploadCommit` for storage-level tests: one decoded packet of one sample. */
import type { DevicePolicy } from '../../src/model/device.js';
import type { UploadCommit } from '../../src/ports/storage.js';

const STRICT_POLICY: DevicePolicy = {
  allowUnsecured: false,
  requireEncryption: false,
  replay: { kind: 'strict' },
};

export function uploadCommit(deviceId: string, nonce: number, receivedAt = 2_000_000): UploadCommit {
  return {
    deviceId,
    registerWith: STRICT_POLICY,
    nonce,
    counterResetThreshold: 1000,
    initialHigh: 10000,
    keyKid: null,
    protocol: 'v1',
    generation: 'e84f720',
    encrypted: false,
    receivedAt,
    source: '127.0.0.1',
    requestId: 'r',
    deviceTimestamp: 5000,
    packets: [
      {
        index: 0,
        deviceTimestamp: 1000,
        bytes: 'AAAA',
        dedupeKey: `${deviceId}-${nonce}`,
        method: 'raw',
        label: null,
        status: 'decoded',
        reason: null,
        notes: [],
        block: {
          time: receivedAt - 10_000,
          step: 2000,
          samples: 1,
          layout: [0, 1],
          values: [2400, 170],
          quality: ['exact', 'exact'],
        },
      },
    ],
  };
}
