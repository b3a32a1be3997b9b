/**
 * Remote configuration and commands of generation 1.3 over real HTTP against the real server
 * process (PROTOCOL-1.3.md §6, §7): a change offered in the shape the firmware applies, its
 * acknowledgement, the boot report that clears what the device already runs, validation at
 * `config set`, one command per poll with its register address and the result recorded, and the
 * binding of unsigned control requests to the address of the device's authenticated uploads. The
 * device side is the firmware emulation checked against head/control.json.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arduinoJsonBytes, COMMAND_DOCUMENT_BYTES } from '../../src/commands/command-answer.js';
import { ecowatt } from '../helpers/cli.js';
import { authenticatingUploads13, type DeviceAnswer, deviceRequest } from '../helpers/device-request.js';
import {
  currentConfigBody,
  emulateCommandPoll,
  emulateConfigPoll,
  freshNvs,
} from '../helpers/gen13-firmware.js';
import { type RunningServer, startServer } from '../helpers/server-process.js';

let server: RunningServer;

beforeAll(async () => {
  // Unsigned control requests for generation 1.3 only (the firmware signs none), and only from
  // where the device's authenticated uploads come from.
  server = await startServer({ env: { ECOWATT_UNSECURED_CONTROL: '1.3' } });
});
afterAll(async () => {
  await server?.stop();
});

const cli = (...args: string[]) => ecowatt(server, ...args);

/**
 * A request as the firmware makes it (`Content-Type: application/json` even on a GET), from a
 * chosen local address: every 127.x address is this machine, so the server sees another source.
 */
function device(
  method: string,
  route: string,
  body?: unknown,
  localAddress = '127.0.0.1',
): Promise<DeviceAnswer> {
  return deviceRequest(server.url, method, route, body, { from: localAddress });
}

/** A sealed 1.3 upload (`POST /aggregated/<id>`): it authenticates the device and its address. */
const upload13 = authenticatingUploads13(() => server.url);

async function addDevice(id: string): Promise<void> {
  const res = await server.admin('POST', '/api/devices', { id });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  await upload13(id);
}

const configOf = async (id: string) => (await server.admin('GET', `/api/devices/${id}/config`)).json;

describe('generation 1.3 remote configuration', () => {
  it('offers a change in the shape the firmware applies, records its acknowledgement, shows it applied', async () => {
    await addDevice('g13-cfg');
    const boot = await device('POST', '/config/g13-cfg/current', currentConfigBody(freshNvs()));
    expect(boot.status, boot.raw).toBe(200);
    expect(boot.json.recorded).toContain('upload_interval');
    const idle = await device('GET', '/config/g13-cfg');
    expect(idle.status).toBe(200);
    expect(idle.raw).toBe('{"is_pending":false}');
    expect(idle.headers.connection).toBe('close');

    const set = await cli(
      'config',
      'set',
      'g13-cfg',
      'upload_interval=30',
      'command_poll_interval=20',
      'power_management=true',
      '--reason',
      'slower uploads',
    );
    expect(set.code, set.stderr).toBe(0);
    const pending = await configOf('g13-cfg');
    expect(pending).toMatchObject({ generation: '1.3', firmware: '1.3', state: 'pending' });
    const update = { upload_interval: 30, command_poll_interval: 20, power_management: { enabled: true } };
    expect(pending.next_answer).toEqual({ is_pending: true, pending_config: { config_update: update } });

    const offered = await device('GET', '/config/g13-cfg');
    expect(offered.json).toEqual(pending.next_answer);
    expect((await configOf('g13-cfg')).keys.upload_interval).toMatchObject({ state: 'delivered', offers: 1 });
    const effect = emulateConfigPoll(offered.status, offered.raw);
    expect(effect.acknowledged).toBe(true);
    expect(effect.upload_us_after).toBe(30_000_000);
    const ack = await device('POST', '/config/g13-cfg/acknowledge', effect.ack);
    expect(ack.status, ack.raw).toBe(200);
    expect(ack.json).toMatchObject({
      status: 'applied',
      keys: ['upload_interval', 'command_poll_interval', 'power_management'],
    });

    const applied = await configOf('g13-cfg');
    expect(applied.state).toBe('applied');
    expect(applied.running.upload_interval).toMatchObject({ value: 30, basis: 'acknowledged' });
    expect(applied.running.sampling_interval).toMatchObject({ value: 5, basis: 'reported at boot' });
    expect(applied.keys.power_management).toMatchObject({ state: 'applied', running: true });
    expect((await device('GET', '/config/g13-cfg')).raw).toBe('{"is_pending":false}');
    const shown = await cli('config', 'show', 'g13-cfg');
    expect(shown.stdout).toMatch(/^upload_interval\t30\tdevice\tapplied\t30\t1$/m);
  });

  it('refuses an out-of-range configuration at config set, and stores nothing', async () => {
    await addDevice('g13-range');
    for (const pair of ['upload_interval=0', 'sampling_interval=-1', 'energy_poll_interval=30']) {
      const r = await cli('config', 'set', 'g13-range', pair);
      expect(r.code, pair).toBe(1);
      expect(r.stderr, pair).toMatch(new RegExp(pair.split('=')[0]));
    }
    const put = await server.admin('PUT', '/api/devices/g13-range/config', {
      config_poll_interval: 0.5,
      registers: ['Vac1', 'Bogus'],
    });
    expect(put.status).toBe(400);
    expect(put.json.error).toBe('invalid_parameter');
    expect(Object.keys(put.json.details.fields).sort()).toEqual(['config_poll_interval', 'registers']);
    expect((await server.admin('GET', '/api/devices/g13-range/config/history')).json.versions).toEqual([]);
    expect((await device('GET', '/config/g13-range')).raw).toBe('{"is_pending":false}');
  });

  it('clears a pending change equal to what the device reports running', async () => {
    await addDevice('g13-same');
    const put = await server.admin('PUT', '/api/devices/g13-same/config', {
      sampling_interval: 5,
      upload_interval: 15,
    });
    expect(put.status).toBe(200);
    expect(put.json.state).toBe('pending');
    // The device boots (or reboots) and says what it runs: exactly that, so nothing is pending.
    expect((await device('POST', '/config/g13-same/current', currentConfigBody(freshNvs()))).status).toBe(
      200,
    );
    const cleared = await configOf('g13-same');
    expect(cleared.state).toBe('applied');
    expect(cleared.keys.sampling_interval).toMatchObject({
      state: 'applied',
      offered_next: false,
      running: 5,
    });
    expect(cleared.next_answer).toEqual({ is_pending: false });
    expect((await device('GET', '/config/g13-same')).raw).toBe('{"is_pending":false}');
  });

  it('answers bad documents and unknown devices with clear errors, never a 500', async () => {
    await addDevice('g13-bad');
    const cases: [string, unknown, number, string][] = [
      ['/config/g13-bad/acknowledge', '{"status":', 400, 'malformed_json'],
      ['/config/g13-bad/acknowledge', [1, 2], 400, 'malformed_payload'],
      ['/config/g13-bad/acknowledge', { status: 'done' }, 400, 'malformed_payload'],
      ['/config/g13-bad/acknowledge', { status: 'applied' }, 409, 'conflict'],
      ['/config/g13-bad/current', { upload_interval: 'fast' }, 400, 'malformed_payload'],
      ['/config/g13-bad/current', { timestamp: 1 }, 400, 'malformed_payload'],
    ];
    for (const [route, body, status, code] of cases) {
      const res = await device('POST', route, body);
      expect(res.status, `${route} ${JSON.stringify(body)}`).toBe(status);
      expect(res.json, res.raw).toMatchObject({ error: code, message: expect.any(String) });
    }
    // A device nobody registered learns nothing from a bare request.
    const stranger = await device('GET', '/config/nobody-here');
    expect(stranger.status).toBe(403);
    expect(stranger.json.error).toBe('unsecured_not_allowed');
  });
});

describe('generation 1.3 commands', () => {
  it('hands out one command per poll with its register address, and records the result the device posts', async () => {
    await addDevice('g13-cmd');
    const sent = await cli('command', 'send', 'g13-cmd', 'write_register', 'register=Pow', 'value=60');
    expect(sent.code, sent.stderr).toBe(0);
    const first = JSON.parse(sent.stdout) as { id: string };
    const second = await server.admin('POST', '/api/devices/g13-cmd/commands', {
      type: 'set_power',
      power_value: 2500,
    });
    expect(second.status).toBe(201);

    const poll = await device('GET', '/commands/g13-cmd/poll');
    expect(poll.status).toBe(200);
    expect(poll.headers.connection).toBe('close');
    expect(poll.json).toEqual({
      commands: [
        { command_id: first.id, command: { action: 'write_register', register_address: 8, value: 60 } },
      ],
      count: 1,
    });
    expect(arduinoJsonBytes(poll.json)).toBeLessThanOrEqual(COMMAND_DOCUMENT_BYTES / 2);
    // While the device holds it, nothing else is handed out.
    expect((await device('GET', '/commands/g13-cmd/poll')).raw).toBe('{"commands":[],"count":0}');

    const ran = emulateCommandPoll(poll.status, poll.raw);
    expect(ran.modbus_side_effects).toEqual(['slave=17 addr=8 value=60']);
    const posted = await device('POST', '/commands/g13-cmd/result', ran.result_posted);
    expect(posted.status, posted.raw).toBe(200);
    expect(posted.json).toMatchObject({ command_id: first.id, status: 'succeeded', duplicate: false });
    const recorded = (await server.admin('GET', `/api/devices/g13-cmd/commands/${first.id}`)).json;
    expect(recorded).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      detail: 'executed at 2025-12-06T05:46:40Z (device clock)',
      device_command: { action: 'write_register', register_address: 8, value: 60 },
    });

    const next = await device('GET', '/commands/g13-cmd/poll');
    expect(next.json.commands).toEqual([
      { command_id: second.json.id, command: { action: 'set_power', value: 2500 } },
    ]);
    expect(emulateCommandPoll(next.status, next.raw).modbus_side_effects).toEqual([
      'setPower(25) -> register 8',
    ]);
    const list = await cli('command', 'list', 'g13-cmd');
    expect(list.stdout).toMatch(new RegExp(`^${first.id}\\twrite_register\\t.*\\tsucceeded`, 'm'));
  });

  it('refuses write_register to a register that is not writable when the command is created', async () => {
    await addDevice('g13-ro');
    for (const register of ['Pac', 'Vac1', 9]) {
      const res = await server.admin('POST', '/api/devices/g13-ro/commands', {
        type: 'write_register',
        register,
        value: 50,
      });
      expect(res.status, String(register)).toBe(400);
      expect(res.json.details.fields.register).toMatch(/read-only|writable/);
    }
    const bad = await cli('command', 'send', 'g13-ro', 'write_register', 'register=Temp', 'value=5');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/read-only/);
    expect((await device('GET', '/commands/g13-ro/poll')).json).toEqual({ commands: [], count: 0 });
  });
});

describe('unsigned control requests are bound to the device’s address', () => {
  it('refuses a bare request from another address with 403 control_source_mismatch', async () => {
    await addDevice('g13-src');
    const c = await server.admin('POST', '/api/devices/g13-src/commands', {
      type: 'set_power_percentage',
      percentage: 10,
    });
    for (const [method, route, body] of [
      ['GET', '/config/g13-src', undefined],
      ['POST', '/config/g13-src/current', currentConfigBody(freshNvs())],
      ['GET', '/commands/g13-src/poll', undefined],
      ['POST', '/commands/g13-src/result', { command_result: { command_id: c.json.id, status: 'success' } }],
    ] as const) {
      const res = await device(method, route, body, '127.0.0.2');
      expect(res.status, `${method} ${route}`).toBe(403);
      expect(res.json.error).toBe('control_source_mismatch');
    }
    // Nothing was handed out to the stranger: the device itself still gets the command.
    const own = await device('GET', '/commands/g13-src/poll');
    expect(own.json.commands[0].command_id).toBe(c.json.id);
    // Its address moves with its next authenticated upload.
    expect((await device('GET', '/config/g13-src', undefined, '127.0.0.3')).status).toBe(403);
  });
});
