/**
 * MQTT topics and payloads (PROTOCOL.md §7, §10.7). Pure: the relay decides when to publish and
 * this module only what, so every payload is testable from stored data alone.
 *
 * Every payload a consumer acts on carries `message_id`, derived from the outbox record and the
 * message kind: a QoS 1 re-delivery (or a re-publication after a crash) has the same id.
 */
import { createHash } from 'node:crypto';
import type { UploadBlocks } from '../ports/outbox.js';
import type { SampleBlock } from '../ports/storage.js';
import type { Quality } from '../protocol/codecs/types.js';
import { type Register, registerById, scaleRaw } from '../protocol/registers.js';

/** The field dashboards' data topic (Node-RED flows subscribe to it). */
export const FIELD_DATA_TOPIC = 'esp32/ecowatt_data';

export interface MqttMessage {
  topic: string;
  payload: string;
  retain: boolean;
  /** For logs; equal to the payload's `message_id` where it has one. */
  id: string;
}

export interface TopicConfig {
  /** `ecowatt` by default. */
  prefix: string;
  /** Home Assistant discovery prefix, or `null` when discovery is off. */
  haPrefix: string | null;
  /** Tells apart the message ids of servers sharing a broker (stable per data directory). */
  instance: string;
}

// The same sample times recur in the readings, state and field messages of an upload, and
// formatting a date costs more than looking it up.
const isoCache = new Map<number, string>();
function iso(t: number): string {
  let s = isoCache.get(t);
  if (s === undefined) {
    if (isoCache.size >= 4096) isoCache.clear();
    s = new Date(t).toISOString();
    isoCache.set(t, s);
  }
  return s;
}

const SAFE_CHAR = /[A-Za-z0-9_.:~-]/;

/**
 * A device id as one topic level. Ids the registry accepts are kept as they are; anything else
 * (`+`, `#`, `/`, `%`, spaces, controls, non-ASCII) is percent-encoded as UTF-8, so two ids never
 * share a topic and the original can be recovered with `decodeURIComponent`.
 */
export function topicSafeId(deviceId: string): string {
  let out = '';
  for (const ch of deviceId) {
    if (SAFE_CHAR.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Home Assistant accepts only `[A-Za-z0-9_-]` in node and object ids; an id that had to be
 * changed gets a hash suffix so two devices never collapse into one HA device.
 */
export function haNodeId(prefix: string, deviceId: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
  const base = `${clean(prefix)}_${clean(deviceId)}`;
  if (clean(deviceId) === deviceId) return base;
  return `${base}_${createHash('sha256').update(deviceId).digest('hex').slice(0, 8)}`;
}

export function deviceTopic(
  cfg: TopicConfig,
  deviceId: string,
  leaf: 'readings' | 'state' | 'events',
): string {
  return `${cfg.prefix}/${topicSafeId(deviceId)}/${leaf}`;
}

export function messageId(cfg: TopicConfig, recordId: number, kind: string): string {
  return `${cfg.instance}-${recordId}-${kind}`;
}

export interface ReadingView {
  register: string;
  reg_id: number;
  raw: number | null;
  value: number | null;
  unit: string | null;
  quality: Quality;
}

// Two messages of one upload read its newest values: worked out once per upload object (uploads
// are not changed after they are read).
const newestMemo = new WeakMap<UploadBlocks, Map<number, NewestValue>>();

/** The upload's packets by index (stored order already is; a copy is sorted only if not). */
function packetsInOrder(upload: UploadBlocks): UploadBlocks['packets'] {
  const ps = upload.packets;
  for (let k = 1; k < ps.length; k++)
    if (ps[k - 1].index > ps[k].index) return [...ps].sort((a, b) => a.index - b.index);
  return ps;
}

/**
 * Calls `visit` for every stored sample of the upload, in packet then sample order (the readings
 * API's grouping); a block holds `width` values per sample.
 */
function eachSample(
  upload: UploadBlocks,
  visit: (block: SampleBlock, packet: number, sample: number, width: number) => void,
): void {
  for (const p of packetsInOrder(upload)) {
    const b = p.block;
    const width = b.layout.length;
    if (width === 0) continue;
    const count = Math.min(b.samples, Math.floor(b.values.length / width));
    for (let s = 0; s < count; s++) visit(b, p.index, s, width);
  }
}

export function readingView(reg: number, raw: number | null, quality: Quality): ReadingView {
  const r = registerById(reg);
  return {
    register: r?.name ?? `reg${reg}`,
    reg_id: reg,
    raw,
    value: r && raw !== null ? scaleRaw(r, raw) : null,
    unit: r?.unit ?? null,
    quality,
  };
}

/** A reading's JSON around its raw value, per register: written once, not per reading. */
interface ReadingJson {
  register: Register | undefined;
  /** `{"register":…,"reg_id":…,"raw":` */
  head: string;
  /** `,"unit":…,"quality":` */
  tail: string;
}
const readingJson = new Map<number, ReadingJson>();

function readingJsonOf(reg: number): ReadingJson {
  let j = readingJson.get(reg);
  if (!j) {
    const r = registerById(reg);
    const name = JSON.stringify(r?.name ?? `reg${reg}`);
    j = {
      register: r,
      head: `{"register":${name},"reg_id":${JSON.stringify(reg)},"raw":`,
      tail: `,"unit":${JSON.stringify(r?.unit ?? null)},"quality":`,
    };
    if (readingJson.size < 4096) readingJson.set(reg, j);
  }
  return j;
}

/** A finite number as JSON.stringify writes it (non-finite numbers become null, as there). */
function jsonNumber(n: number | null): string {
  return n === null || !Number.isFinite(n) ? 'null' : String(n);
}

/**
 * `readingView` as JSON text, written directly: an upload's readings are the bulk of what the
 * relay publishes, and building an object per reading only to stringify it cost most of the
 * message. The text is exactly `JSON.stringify(readingView(reg, raw, quality))`
 * (test/unit/mqtt/messages.test.ts checks it).
 */
function readingText(reg: number, raw: number | null, quality: Quality): string {
  const j = readingJsonOf(reg);
  const value = j.register && raw !== null ? scaleRaw(j.register, raw) : null;
  return `${j.head}${jsonNumber(raw)},"value":${jsonNumber(value)}${j.tail}${JSON.stringify(quality)}}`;
}

/**
 * `<prefix>/<device>/readings`: one message per upload holding every stored sample (missing values
 * included, as `null` with quality `missing`), so a consumer sees exactly what the readings API
 * returns. `null` when the upload stored no sample (every packet quarantined).
 */
export function readingsMessage(
  cfg: TopicConfig,
  recordId: number,
  upload: UploadBlocks,
): MqttMessage | null {
  let body = '';
  eachSample(upload, (b, packet, s, width) => {
    body += `${body === '' ? '' : ','}{"time":"${iso(b.time + s * b.step)}","packet":${packet},"sample":${s},"readings":[`;
    for (let j = 0; j < width; j++) {
      const i = s * width + j;
      const raw = b.values[i] ?? null;
      if (j > 0) body += ',';
      body += readingText(b.layout[j], raw, raw === null ? 'missing' : b.quality[i]);
    }
    body += ']}';
  });
  if (body === '') return null;
  const id = messageId(cfg, recordId, 'readings');
  // The envelope's fields in the order consumers have always seen them.
  const head = JSON.stringify({
    message_id: id,
    device_id: upload.deviceId,
    upload_id: upload.uploadId,
    nonce: upload.nonce,
    received_at: iso(upload.receivedAt),
  });
  return {
    topic: deviceTopic(cfg, upload.deviceId, 'readings'),
    payload: `${head.slice(0, -1)},"samples":[${body}]}`,
    retain: false,
    id,
  };
}

interface NewestValue {
  raw: number;
  quality: Quality;
  time: number;
}

/**
 * For each register, its newest value in the upload that is not missing. A register whose newest
 * sample is missing falls back to an older sample of the same upload rather than to nothing.
 */
function newestValues(upload: UploadBlocks): Map<number, NewestValue> {
  let out = newestMemo.get(upload);
  if (!out) {
    out = readNewestValues(upload);
    newestMemo.set(upload, out);
  }
  return out;
}

function readNewestValues(upload: UploadBlocks): Map<number, NewestValue> {
  const out = new Map<number, NewestValue>();
  // In packet/sample order, so among equal times the later sample wins.
  eachSample(upload, (b, _packet, s, width) => {
    const time = b.time + s * b.step;
    for (let j = 0; j < width; j++) {
      const raw = b.values[s * width + j] ?? null;
      if (raw === null) continue;
      const reg = b.layout[j];
      const known = out.get(reg);
      if (!known || time >= known.time) out.set(reg, { raw, quality: b.quality[s * width + j], time });
    }
  });
  return out;
}

/** The §7 keys, with the decimals the field dashboards display. */
const FIELD_KEYS: readonly { reg: number; readable: string; decimals: number }[] = [
  { reg: 0, readable: 'ac_voltage_readable', decimals: 1 },
  { reg: 1, readable: 'ac_current_readable', decimals: 2 },
  { reg: 5, readable: 'pv_current_1_readable', decimals: 2 },
  { reg: 9, readable: 'ac_power_readable', decimals: 0 },
  { reg: 6, readable: 'pv_current_2_readable', decimals: 2 },
  { reg: 7, readable: 'temperature_readable', decimals: 1 },
];

/**
 * `esp32/ecowatt_data` in the §7 shape, from real decoded values only: a register with no value
 * in the upload has neither its `REG_*` key nor its readable key (the reference server invented
 * defaults). Scaled with the §4.1 gains. `null` when the upload holds none of the six registers.
 */
export function fieldDataMessage(
  cfg: TopicConfig,
  recordId: number,
  upload: UploadBlocks,
): MqttMessage | null {
  const newest = newestValues(upload);
  const data: Record<string, number | string> = {};
  let time: number | null = null;
  for (const k of FIELD_KEYS) {
    const v = newest.get(k.reg);
    const reg = registerById(k.reg);
    if (!v || !reg) continue;
    data[reg.regName] = v.raw;
    data[k.readable] = `${scaleRaw(reg, v.raw).toFixed(k.decimals)}${reg.unit}`;
    time = time === null ? v.time : Math.max(time, v.time);
  }
  if (time === null) return null;
  const id = messageId(cfg, recordId, 'data');
  const payload = { register_data: data, device_id: upload.deviceId, time: iso(time), message_id: id };
  return { topic: FIELD_DATA_TOPIC, payload: JSON.stringify(payload), retain: false, id };
}

export interface RegisterState {
  reg_id: number;
  value: number;
  raw: number;
  unit: string;
  quality: Quality;
  time: string;
}

/** Latest value per register name (`Vac1` …): the `registers` object of the state topic. */
export type DeviceRegisters = Record<string, RegisterState>;

/**
 * The registers an upload brings, merged over what was known: a register keeps its previous value
 * when the upload has none for it, and an older value never replaces a newer one.
 */
export function mergeRegisters(previous: DeviceRegisters, upload: UploadBlocks): DeviceRegisters {
  const out: DeviceRegisters = { ...previous };
  for (const [reg, v] of newestValues(upload)) {
    const r = registerById(reg);
    if (!r) continue;
    const before = out[r.name];
    if (before && Date.parse(before.time) > v.time) continue;
    out[r.name] = {
      reg_id: reg,
      value: scaleRaw(r, v.raw),
      raw: v.raw,
      unit: r.unit,
      quality: v.quality,
      time: iso(v.time),
    };
  }
  return out;
}

export interface DeviceStateInput {
  deviceId: string;
  /** Registry status (`active`, `disabled`), when known. */
  status: string | null;
  lastSeen: number;
  lastUpload: string | null;
  registers: DeviceRegisters;
}

/** `<prefix>/<device>/state`, retained: what a dashboard shows when it (re)connects. */
export function stateMessage(cfg: TopicConfig, recordId: number, state: DeviceStateInput): MqttMessage {
  const id = messageId(cfg, recordId, 'state');
  const payload = {
    message_id: id,
    device_id: state.deviceId,
    status: state.status,
    last_seen: iso(state.lastSeen),
    last_upload: state.lastUpload,
    registers: state.registers,
  };
  return {
    topic: deviceTopic(cfg, state.deviceId, 'state'),
    payload: JSON.stringify(payload),
    retain: true,
    id,
  };
}

/** Outbox records stored by earlier versions hold the event with camelCase keys. */
const SNAKE: Record<string, string> = { deviceId: 'device_id', requestId: 'request_id' };

/**
 * `<prefix>/<device>/events`: a stored security or data-quality event as the outbox holds it
 * (`eventJson`, the admin API's shape). A payload that is not a JSON object is passed on as `raw`.
 */
export function eventMessage(
  cfg: TopicConfig,
  recordId: number,
  deviceId: string,
  stored: string | null,
): MqttMessage {
  const id = messageId(cfg, recordId, 'event');
  let event: Record<string, unknown> = { raw: stored };
  try {
    const parsed: unknown = stored === null ? null : JSON.parse(stored);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      event = {};
      for (const [k, v] of Object.entries(parsed)) event[SNAKE[k] ?? k] = v;
      if (typeof event.time === 'number') event.time = iso(event.time);
    }
  } catch {
    /* kept as raw */
  }
  const payload: Record<string, unknown> = { message_id: id, device_id: deviceId };
  for (const [k, v] of Object.entries(event)) if (!(k in payload)) payload[k] = v;
  return { topic: deviceTopic(cfg, deviceId, 'events'), payload: JSON.stringify(payload), retain: false, id };
}

const DEVICE_CLASS: Record<string, string> = {
  V: 'voltage',
  A: 'current',
  Hz: 'frequency',
  '°C': 'temperature',
  W: 'power',
};

function haDevice(cfg: TopicConfig, deviceId: string) {
  return {
    identifiers: [haNodeId(cfg.prefix, deviceId)],
    name: `EcoWatt ${deviceId}`,
    manufacturer: 'EcoWatt',
    model: 'ESP32 inverter logger',
  };
}

function discoveryTopic(cfg: TopicConfig, haPrefix: string, deviceId: string, object: string): string {
  return `${haPrefix}/sensor/${haNodeId(cfg.prefix, deviceId)}/${object}/config`;
}

/**
 * Home Assistant MQTT discovery, retained: one sensor per register reading into the state topic.
 * Only for registers the state holds, so a template never points at a key that is not there.
 * The configs carry no `message_id`: they are idempotent and HA's schema is theirs, not ours.
 */
export function discoveryMessages(
  cfg: TopicConfig,
  recordId: number,
  deviceId: string,
  regIds: readonly number[],
): MqttMessage[] {
  const haPrefix = cfg.haPrefix;
  if (haPrefix === null) return [];
  const node = haNodeId(cfg.prefix, deviceId);
  const stateTopic = deviceTopic(cfg, deviceId, 'state');
  return regIds
    .map((id) => registerById(id))
    .filter((r): r is Register => r !== undefined)
    .map((r) => {
      const object = r.name.toLowerCase();
      const deviceClass = DEVICE_CLASS[r.unit];
      const config = {
        name: r.description.charAt(0).toUpperCase() + r.description.slice(1),
        unique_id: `${node}_${object}`,
        state_topic: stateTopic,
        value_template: `{{ value_json.registers.${r.name}.value }}`,
        unit_of_measurement: r.unit,
        ...(deviceClass ? { device_class: deviceClass } : {}),
        state_class: 'measurement',
        suggested_display_precision: Math.round(Math.log10(r.divisor)),
        device: haDevice(cfg, deviceId),
        origin: { name: 'EcoWatt Cloud' },
      };
      return {
        topic: discoveryTopic(cfg, haPrefix, deviceId, object),
        payload: JSON.stringify(config),
        retain: true,
        id: messageId(cfg, recordId, `ha-${object}`),
      };
    });
}

/** The device's "last seen" sensor: announced when the device is first seen, before any register. */
export function lastSeenDiscovery(cfg: TopicConfig, recordId: number, deviceId: string): MqttMessage | null {
  const haPrefix = cfg.haPrefix;
  if (haPrefix === null) return null;
  const node = haNodeId(cfg.prefix, deviceId);
  const config = {
    name: 'Last seen',
    unique_id: `${node}_last_seen`,
    state_topic: deviceTopic(cfg, deviceId, 'state'),
    value_template: '{{ value_json.last_seen }}',
    device_class: 'timestamp',
    device: haDevice(cfg, deviceId),
    origin: { name: 'EcoWatt Cloud' },
  };
  return {
    topic: discoveryTopic(cfg, haPrefix, deviceId, 'last_seen'),
    payload: JSON.stringify(config),
    retain: true,
    id: messageId(cfg, recordId, 'ha-last_seen'),
  };
}
