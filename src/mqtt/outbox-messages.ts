/**
 * Builds the messages of each outbox record from what is stored, so subscribers see exactly the
 * stored data (PROTOCOL.md §10.7):
 * - `upload`: HA discovery for registers not yet announced by this process, readings, state,
 *   and the field dashboards' `esp32/ecowatt_data`;
 * - `event`: the stored event on the device's events topic;
 * - `device` (first seen): the "last seen" discovery sensor and the initial state.
 *
 * Discovery is announced again by the first upload of each device after a start (or a rewind, or
 * Home Assistant coming back online): retained configs are idempotent, and an embedded broker
 * that restarted with the server has lost them.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Outbox, OutboxRecord, UploadBlocks } from '../ports/outbox.js';
import type { Reading } from '../ports/storage.js';
import { registerById, scaleRaw } from '../protocol/registers.js';
import {
  type DeviceRegisters,
  discoveryMessages,
  eventMessage,
  fieldDataMessage,
  lastSeenDiscovery,
  type MqttMessage,
  mergeRegisters,
  readingsMessage,
  stateMessage,
  type TopicConfig,
} from './messages.js';
import type { RecordMessages } from './relay.js';

/** What the builder reads of the device registry (the storage port satisfies it). */
export interface DeviceDirectory {
  getDevice(id: string): Promise<{ status: string } | undefined>;
  latestReadings(deviceId: string): Promise<Reading[]>;
}

const LAST_SEEN = 'last_seen';

function newestSampleTime(upload: UploadBlocks): number {
  let t = Number.NEGATIVE_INFINITY;
  for (const p of upload.packets) {
    const b = p.block;
    if (b.samples > 0) t = Math.max(t, b.time + (b.samples - 1) * b.step);
  }
  return t;
}

const STATUS_TTL_MS = 5000;

export class OutboxMessageBuilder implements RecordMessages {
  private readonly statuses = new Map<string, { status: string | null; at: number }>();
  /** Latest register values per device, as last published on its state topic. */
  private readonly registers = new Map<string, DeviceRegisters>();
  /** Discovery objects announced by this process, per device. */
  private readonly announced = new Map<string, Set<string>>();

  constructor(
    private readonly cfg: TopicConfig,
    private readonly outbox: Pick<Outbox, 'uploadBlocks'>,
    private readonly devices: DeviceDirectory,
    private readonly log: FastifyBaseLogger,
  ) {}

  async messagesFor(record: OutboxRecord): Promise<MqttMessage[]> {
    switch (record.kind) {
      case 'upload':
        return this.upload(record);
      case 'event':
        // Events without a device have no device topic; the admin API lists them.
        return record.deviceId === null
          ? []
          : [eventMessage(this.cfg, record.id, record.deviceId, record.payload)];
      case 'device':
        return this.device(record);
      default:
        this.log.warn(
          { record: record.id, kind: record.kind },
          'mqtt relay: unknown outbox record kind skipped',
        );
        return [];
    }
  }

  rewind(): void {
    this.announced.clear();
  }

  /** Home Assistant restarted: it may have lost its entities, so announce them again. */
  forgetAnnouncements(): void {
    this.announced.clear();
  }

  /** A device's registry status, read at most every few seconds: it only labels the state message. */
  private async status(deviceId: string): Promise<string | null> {
    const now = Date.now();
    const known = this.statuses.get(deviceId);
    if (known && now - known.at < STATUS_TTL_MS) return known.status;
    const status = (await this.devices.getDevice(deviceId))?.status ?? null;
    if (this.statuses.size > 100_000) this.statuses.clear();
    this.statuses.set(deviceId, { status, at: now });
    return status;
  }

  private async device(record: OutboxRecord): Promise<MqttMessage[]> {
    const deviceId = record.deviceId ?? record.refId;
    if (deviceId === null) return [];
    const msgs: MqttMessage[] = [];
    const discovery = this.announce(record.id, deviceId, []);
    msgs.push(...discovery);
    msgs.push(
      stateMessage(this.cfg, record.id, {
        deviceId,
        status: await this.status(deviceId),
        lastSeen: record.createdAt,
        lastUpload: null,
        registers: this.registers.get(deviceId) ?? {},
      }),
    );
    return msgs;
  }

  private async upload(record: OutboxRecord): Promise<MqttMessage[]> {
    const upload = record.refId === null ? undefined : await this.outbox.uploadBlocks(record.refId);
    if (!upload) {
      this.log.warn(
        { record: record.id, upload: record.refId },
        'mqtt relay: outbox names an unknown upload; skipped',
      );
      return [];
    }
    const deviceId = upload.deviceId;
    const previous = await this.known(deviceId, newestSampleTime(upload));
    const registers = mergeRegisters(previous, upload);
    this.registers.set(deviceId, registers);

    const regIds = Object.values(registers).map((r) => r.reg_id);
    const msgs = this.announce(record.id, deviceId, regIds);
    const readings = readingsMessage(this.cfg, record.id, upload);
    if (readings) msgs.push(readings);
    msgs.push(
      stateMessage(this.cfg, record.id, {
        deviceId,
        status: await this.status(deviceId),
        lastSeen: upload.receivedAt,
        lastUpload: upload.uploadId,
        registers,
      }),
    );
    const field = fieldDataMessage(this.cfg, record.id, upload);
    if (field) msgs.push(field);
    return msgs;
  }

  /** Discovery configs not yet sent by this process: the last-seen sensor and new registers. */
  private announce(recordId: number, deviceId: string, regIds: readonly number[]): MqttMessage[] {
    if (this.cfg.haPrefix === null) return [];
    let done = this.announced.get(deviceId);
    if (!done) {
      done = new Set();
      this.announced.set(deviceId, done);
    }
    const msgs: MqttMessage[] = [];
    if (!done.has(LAST_SEEN)) {
      const m = lastSeenDiscovery(this.cfg, recordId, deviceId);
      if (m) msgs.push(m);
      done.add(LAST_SEEN);
    }
    const fresh = regIds.filter((id) => !done.has(String(id)));
    for (const id of fresh) done.add(String(id));
    msgs.push(...discoveryMessages(this.cfg, recordId, deviceId, fresh));
    return msgs;
  }

  /**
   * The device's register values before this upload. After a start the cache is empty: it is
   * seeded from the stored latest values, leaving out any newer than this upload (a backlog is
   * being published, and those arrive with their own records).
   */
  private async known(deviceId: string, upTo: number): Promise<DeviceRegisters> {
    const cached = this.registers.get(deviceId);
    if (cached) return cached;
    const out: DeviceRegisters = {};
    for (const r of await this.devices.latestReadings(deviceId)) {
      const reg = registerById(r.register);
      if (!reg || r.raw === null || r.time > upTo) continue;
      out[reg.name] = {
        reg_id: r.register,
        value: scaleRaw(reg, r.raw),
        raw: r.raw,
        unit: reg.unit,
        quality: r.quality,
        time: new Date(r.time).toISOString(),
      };
    }
    return out;
  }
}
