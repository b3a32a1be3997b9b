/**
 * Stage 6: answer a committed upload. The answer reports every packet, quarantines included, so
 * whoever reads the device's log sees them; quarantines and a large nonce gap are also security
 * events, for the operator, who reads events rather than device answers.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { RequestFacts } from '../../devices/refusals.js';
import type { SecurityEvents } from '../../observability/security-events.js';
import type { PacketRecord } from '../../ports/storage.js';
import type { UploadHeader } from '../generation-decoder.js';
import type { CommittedOutcome } from './commit-upload.js';
import type { AuthenticatedUpload } from './receive-upload.js';

export interface PacketSummary {
  index: number;
  method: string | null;
  label: string | null;
  status: 'decoded' | 'quarantined' | 'duplicate';
  quality: Record<string, number>;
}

export interface IngestResponse {
  status: 'success';
  device_id: string;
  upload_id: string;
  nonce: number | null;
  packets: number;
  samples: number;
  readings: number;
  duplicate_packets: number;
  nonce_gap: number;
  quarantined: { index: number; reason: string }[];
  packet_summary: PacketSummary[];
}

export interface AnswerDeps {
  events: SecurityEvents;
  log: Logger;
  nonceGapEventThreshold: number;
}

export function answerUpload(
  deps: AnswerDeps,
  req: RequestFacts,
  upload: AuthenticatedUpload<UploadHeader>,
  packets: readonly PacketRecord[],
  committed: CommittedOutcome,
): IngestResponse {
  const deviceId = upload.doc.deviceId;
  const quarantined = packets.filter((p) => p.status === 'quarantined');
  for (const p of quarantined) {
    deps.events.record({
      time: req.receivedAt,
      deviceId,
      code: 'packet_quarantined',
      reason: p.reason ?? 'undecodable',
      source: req.source,
      nonce: upload.nonce,
      requestId: req.requestId,
      detail: { upload: committed.uploadId, packet: p.index },
    });
  }
  if (committed.gap >= deps.nonceGapEventThreshold) {
    deps.events.record({
      time: req.receivedAt,
      deviceId,
      code: 'nonce_gap',
      reason: `${committed.gap} uploads between the last accepted nonce and ${upload.nonce} never arrived`,
      source: req.source,
      nonce: upload.nonce,
      requestId: req.requestId,
    });
  }
  deps.log.info({
    event: 'upload',
    device: deviceId,
    upload: committed.uploadId,
    nonce: upload.nonce,
    packets: packets.length,
    readings: committed.readingsStored,
  });
  const duplicates = new Set(committed.duplicatePackets);
  return {
    status: 'success',
    device_id: deviceId,
    upload_id: committed.uploadId,
    nonce: upload.nonce,
    packets: packets.length,
    samples: committed.samplesStored,
    readings: committed.readingsStored,
    duplicate_packets: committed.duplicatePackets.length,
    nonce_gap: Math.max(0, committed.gap),
    quarantined: quarantined.map((p) => ({ index: p.index, reason: p.reason ?? 'undecodable' })),
    packet_summary: packets.map((p) => summarise(p, duplicates.has(p.index))),
  };
}

function summarise(p: PacketRecord, duplicate: boolean): PacketSummary {
  const quality: Record<string, number> = {};
  for (const q of p.block?.quality ?? []) quality[q] = (quality[q] ?? 0) + 1;
  const status = duplicate ? 'duplicate' : p.status;
  return { index: p.index, method: p.method, label: p.label, status, quality };
}
