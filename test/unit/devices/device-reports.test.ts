import { describe, expect, it } from 'vitest';
import {
  energyView,
  faultView,
  parseEnergyReport,
  parseFaultReport,
  parseRegistration,
  registrationView,
  reportDeviceId,
  techniqueNames,
} from '../../../src/devices/device-reports.js';
import { ApiError } from '../../../src/model/errors.js';
import type { StoredDeviceReport } from '../../../src/ports/storage.js';

/** The error a parser throws: its code, field and message. */
function refusal(fn: () => unknown): { code: string; field: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { code: err.code, field: err.details?.field, message: err.message };
  }
  throw new Error('accepted');
}

/** As the firmware's snprintf prints it (task_manager.cpp). */
const FIELD_ENERGY = JSON.parse(
  '{"device_id":"ESP32_001","timestamp":1760000000123,"power_management":{"enabled":true,' +
    '"techniques":"0x0F","avg_current_ma":95.50,"energy_saved_mah":-0.00,"peripheral_savings_mah":0.00,' +
    '"uptime_ms":4294967295,"high_perf_ms":10,"normal_ms":20,"low_power_ms":30,"sleep_ms":40}}',
);

const stored = (
  body: Record<string, unknown>,
  extra: Partial<StoredDeviceReport> = {},
): StoredDeviceReport => ({
  id: 7,
  deviceId: 'ESP32_001',
  kind: 'energy',
  receivedAt: 1_760_000_000_000,
  source: '10.0.0.5',
  verified: true,
  body,
  ...extra,
});

describe('1.3 report bodies', () => {
  it("accepts the firmware's energy report as printed, flattened", () => {
    expect(parseEnergyReport(FIELD_ENERGY)).toEqual({
      timestamp: 1760000000123,
      enabled: true,
      techniques: '0x0F',
      avg_current_ma: 95.5,
      energy_saved_mah: -0,
      peripheral_savings_mah: 0,
      uptime_ms: 4294967295,
      high_perf_ms: 10,
      normal_ms: 20,
      low_power_ms: 30,
      sleep_ms: 40,
    });
  });

  it('names the field of every energy report problem', () => {
    const pm = FIELD_ENERGY.power_management;
    expect(refusal(() => parseEnergyReport({ ...FIELD_ENERGY, power_management: [] }))).toMatchObject({
      code: 'invalid_parameter',
      field: 'power_management',
    });
    for (const [key, value] of [
      ['techniques', 15],
      ['techniques', '0xZZ'],
      ['enabled', 'true'],
      ['avg_current_ma', null],
      ['uptime_ms', 1.5],
      ['sleep_ms', -1],
    ] as const) {
      const r = refusal(() =>
        parseEnergyReport({ ...FIELD_ENERGY, power_management: { ...pm, [key]: value } }),
      );
      expect(r, key).toMatchObject({ code: 'invalid_parameter', field: `power_management.${key}` });
      expect(r.message.startsWith(`power_management.${key}: `)).toBe(true);
    }
    expect(refusal(() => parseEnergyReport({ ...FIELD_ENERGY, timestamp: -1 })).field).toBe('timestamp');
  });

  it('checks fault reports: required texts, a uint8 retry count, bounded details', () => {
    const fault = {
      device_id: 'ESP32_001',
      timestamp: 123,
      fault_type: 'crc_error',
      recovery_action: 'retry_read',
      success: true,
      details: 'CRC mismatch\non read',
      retry_count: 3,
    };
    expect(parseFaultReport(fault)).toEqual({
      timestamp: 123,
      fault_type: 'crc_error',
      recovery_action: 'retry_read',
      success: true,
      details: 'CRC mismatch\non read',
      retry_count: 3,
    });
    expect(parseFaultReport({ ...fault, details: undefined }).details).toBeNull();
    expect(refusal(() => parseFaultReport({ ...fault, retry_count: 256 })).field).toBe('retry_count');
    expect(refusal(() => parseFaultReport({ ...fault, fault_type: '' })).field).toBe('fault_type');
    expect(refusal(() => parseFaultReport({ ...fault, recovery_action: undefined })).field).toBe(
      'recovery_action',
    );
    expect(refusal(() => parseFaultReport({ ...fault, fault_type: 'a\tb' })).field).toBe('fault_type');
    expect(refusal(() => parseFaultReport({ ...fault, details: 'd'.repeat(257) })).field).toBe('details');
  });

  it('bounds registration texts and refuses control characters; keeps only the four fields', () => {
    const reg = parseRegistration({
      device_id: 'ESP32_001',
      device_name: 'EcoWatt',
      firmware_version: '1.3.4',
      allow_unsecured_config: true,
    });
    expect(reg).toEqual({
      device_name: 'EcoWatt',
      firmware_version: '1.3.4',
      location: null,
      description: null,
    });
    expect(refusal(() => parseRegistration({ device_name: 'x'.repeat(65) }))).toMatchObject({
      code: 'invalid_parameter',
      field: 'device_name',
    });
    expect(parseRegistration({ firmware_version: '1'.repeat(32) }).firmware_version).toHaveLength(32);
    expect(refusal(() => parseRegistration({ firmware_version: '1'.repeat(33) })).field).toBe(
      'firmware_version',
    );
    expect(refusal(() => parseRegistration({ location: 'a\u0000b' })).field).toBe('location');
    expect(refusal(() => parseRegistration({ description: 5 })).field).toBe('description');
    expect(refusal(() => reportDeviceId({ device_id: 'has space' })).code).toBe('malformed_payload');
    expect(reportDeviceId({ device_id: 'ESP32_001' })).toBe('ESP32_001');
  });
});

describe('1.3 report views', () => {
  it('shows an energy report with time and share in each power mode and named techniques', () => {
    const v = energyView(stored(parseEnergyReport(FIELD_ENERGY) as unknown as Record<string, unknown>));
    expect(v).toMatchObject({
      id: 7,
      received_at: '2025-10-09T08:53:20.000Z',
      device_time: '2025-10-09T08:53:20.123Z',
      technique_names: ['wifi_modem_sleep', 'cpu_freq_scaling', 'light_sleep', 'peripheral_gating'],
      modes_ms: { high_perf: 10, normal: 20, low_power: 30, sleep: 40 },
      modes_percent: { high_perf: 10, normal: 20, low_power: 30, sleep: 40 },
    });
    // A clock counting from boot is not a date.
    expect(energyView(stored({ timestamp: 5000 })).device_time).toBeNull();
    expect(techniqueNames('0x05')).toEqual(['wifi_modem_sleep', 'light_sleep']);
  });

  it('shows faults and registrations, telling a pending one from a verified one', () => {
    expect(
      faultView(stored({ fault_type: 'timeout', success: false, retry_count: 3 }, { kind: 'fault' })),
    ).toMatchObject({
      fault_type: 'timeout',
      success: false,
      retry_count: 3,
      details: null,
    });
    const pending = stored({ device_name: 'N' }, { kind: 'registration', verified: false });
    expect(registrationView(pending)).not.toHaveProperty('from_upload_address');
    expect(registrationView(pending, '10.0.0.5')).toMatchObject({
      verified: false,
      from_upload_address: true,
    });
    expect(registrationView(pending, '10.9.9.9').from_upload_address).toBe(false);
    expect(registrationView(pending, null).from_upload_address).toBeNull();
  });
});
