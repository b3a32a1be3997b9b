import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecowatt } from '../helpers/cli.js';
import { EmulatedFieldDevice } from '../helpers/emulated-field-device.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';

let server: RunningServer;

beforeAll(async () => {
  // Bare control requests only where a device's own policy allows them (the generation-wide
  // setting has tests of its own).
  server = await startServer({ env: { ECOWATT_UNSECURED_CONTROL: 'off' } });
});
afterAll(async () => {
  await server?.stop();
});

const cli = (...args: string[]) => ecowatt(server, ...args);

async function addDevice(id: string, policy: Record<string, unknown> = { allow_unsecured_config: true }) {
  expect((await server.admin('POST', '/api/devices', { id, ...policy })).status).toBe(201);
}

async function send(id: string, body: Record<string, unknown>) {
  const res = await server.admin('POST', `/api/devices/${id}/commands`, body);
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json as { id: string; status: string };
}

async function device(method: string, route: string, body?: unknown) {
  const res = await fetch(`${server.url}${route}`, {
    method,
    ...(body !== undefined
      ? {
          headers: { 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        }
      : {}),
  });
  return { status: res.status, json: (await res.json()) as any, headers: res.headers };
}

const poll = (id: string) => device('GET', `/commands/${id}/poll`);
const report = (id: string, body: Record<string, unknown>) => device('POST', `/commands/${id}/result`, body);

describe('commands', () => {
  it('delivers three commands queued before one poll, one per poll, in order, to their end', async () => {
    await addDevice('cmd-three');
    const c1 = await send('cmd-three', { type: 'set_power_percentage', percentage: 40, reason: 'evening' });
    const c2 = await send('cmd-three', { type: 'write_register', register: 'Pow', value: 60 });
    const c3 = await send('cmd-three', { type: 'set_power', power_value: 2500 });

    const seen: string[] = [];
    // The 1.3 shape (PROTOCOL-1.3.md §7): one command, `command.action`, a numeric register address.
    const expected = [
      [c1.id, { action: 'set_power_percentage', value: 40 }, 'succeeded'],
      [c2.id, { action: 'write_register', register_address: 8, value: 60 }, 'failed'],
      [c3.id, { action: 'set_power', value: 2500 }, 'succeeded'],
    ] as const;
    for (const [id, command, outcome] of expected) {
      const p = await poll('cmd-three');
      expect(p.status).toBe(200);
      expect(p.headers.get('connection')).toBe('close');
      expect(p.json).toEqual({ commands: [{ command_id: id, command }], count: 1 });
      const [item] = p.json.commands;
      expect((await server.admin('GET', `/api/devices/cmd-three/commands/${id}`)).json).toMatchObject({
        status: 'in_flight',
        attempts: 1,
        device_command: command,
      });
      // While one is with the device, the next waits: writes land in the order they were queued.
      expect((await poll('cmd-three')).json.count).toBe(0);
      seen.push(item.command_id);
      const r = await report('cmd-three', {
        command_id: item.command_id,
        status: outcome,
        ...(outcome === 'failed' ? { detail: 'Modbus exception 2' } : {}),
      });
      expect(r.json).toMatchObject({ success: true, command_id: id, status: outcome, duplicate: false });
    }
    expect(seen).toEqual([c1.id, c2.id, c3.id]);
    expect((await poll('cmd-three')).json).toEqual({ commands: [], count: 0 });

    const list = await server.admin('GET', '/api/devices/cmd-three/commands');
    expect(list.json.commands.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      [c3.id, 'succeeded'],
      [c2.id, 'failed'],
      [c1.id, 'succeeded'],
    ]);
    expect(list.json.commands[1]).toMatchObject({ detail: 'Modbus exception 2', attempts: 1 });
  });

  it('records a result once: a repeated result changes nothing', async () => {
    await addDevice('cmd-idem');
    const c = await send('cmd-idem', { type: 'set_power_percentage', percentage: 10 });
    await poll('cmd-idem');
    const first = await report('cmd-idem', { command_result: { command_id: c.id, status: 'success' } });
    expect(first.json).toMatchObject({ status: 'succeeded', duplicate: false });
    const again = await report('cmd-idem', { command_id: c.id, status: 'failed', detail: 'late retry' });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ status: 'succeeded', duplicate: true });
    expect((await report('cmd-idem', { command_id: '99999', status: 'succeeded' })).status).toBe(404);
    const never = await send('cmd-idem', { type: 'set_power_percentage', percentage: 20 });
    expect((await report('cmd-idem', { command_id: never.id, status: 'succeeded' })).status).toBe(409);
    expect((await report('cmd-idem', { command_id: c.id, status: 'maybe' })).status).toBe(400);
  });

  it('redelivers a command whose result was lost once its lease lapses, and expires it after the last attempt', async () => {
    await addDevice('cmd-lease');
    const lost = await send('cmd-lease', {
      type: 'set_power_percentage',
      percentage: 70,
      lease_seconds: 1,
      max_attempts: 2,
    });
    const next = await send('cmd-lease', { type: 'set_power_percentage', percentage: 80 });
    const attempts = async (id: string) =>
      (await server.admin('GET', `/api/devices/cmd-lease/commands/${id}`)).json.attempts;
    const first = await poll('cmd-lease');
    expect(first.json.commands[0]).toMatchObject({ command_id: lost.id });
    expect(await attempts(lost.id)).toBe(1);
    expect((await poll('cmd-lease')).json.count).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await poll('cmd-lease');
    expect(second.json.commands[0]).toMatchObject({ command_id: lost.id });
    expect(await attempts(lost.id)).toBe(2);
    await new Promise((r) => setTimeout(r, 1100));
    // Two deliveries without a result: expired, and the queue moves on.
    const third = await poll('cmd-lease');
    expect(third.json.commands[0]).toMatchObject({ command_id: next.id });
    expect(await attempts(next.id)).toBe(1);
    const shown = await server.admin('GET', `/api/devices/cmd-lease/commands/${lost.id}`);
    expect(shown.json).toMatchObject({ status: 'expired', attempts: 2 });
    // A late result is still the truth about what the device did.
    expect((await report('cmd-lease', { command_id: lost.id, status: 'succeeded' })).json.status).toBe(
      'succeeded',
    );
  });

  it('never delivers a cancelled command, and does not cancel one the device holds', async () => {
    await addDevice('cmd-cancel');
    const keep = await send('cmd-cancel', { type: 'set_power_percentage', percentage: 30 });
    const drop = await send('cmd-cancel', { type: 'set_power_percentage', percentage: 0 });
    const cancelled = await server.admin('DELETE', `/api/devices/cmd-cancel/commands/${drop.id}`, {
      reason: 'changed my mind',
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json).toMatchObject({ status: 'cancelled', cancelled_by: 'token' });
    expect((await poll('cmd-cancel')).json.commands[0].command_id).toBe(keep.id);
    const held = await server.admin('DELETE', `/api/devices/cmd-cancel/commands/${keep.id}`);
    expect(held.status).toBe(409);
    await report('cmd-cancel', { command_id: keep.id, status: 'succeeded' });
    for (let i = 0; i < 3; i++) expect((await poll('cmd-cancel')).json.count).toBe(0);
    expect((await server.admin('DELETE', `/api/devices/cmd-cancel/commands/${keep.id}`)).status).toBe(409);
    expect((await server.admin('GET', `/api/devices/cmd-cancel/commands/${drop.id}`)).json.attempts).toBe(0);
    const audit = await server.admin('GET', '/api/audit?device=cmd-cancel');
    expect(audit.json.entries[0]).toMatchObject({ action: 'command.cancelled', reason: 'changed my mind' });
  });

  it('rejects invalid commands naming every bad field, and queues nothing', async () => {
    await addDevice('cmd-bad');
    const cases: [Record<string, unknown>, string[]][] = [
      [{ type: 'write_register', register: 'Vac1', value: 50 }, ['register']],
      [{ type: 'write_register', register: 9, value: 150 }, ['register', 'value']],
      [{ type: 'set_power_percentage', percentage: 101, lease_seconds: 0 }, ['lease_seconds', 'percentage']],
      [{ type: 'set_power', power_value: 1234 }, ['power_value']],
      [{ type: 'set_power_percentage', percent: 5 }, ['percent', 'percentage']],
      [{ type: 'reboot' }, ['type']],
    ];
    for (const [body, fields] of cases) {
      const res = await server.admin('POST', '/api/devices/cmd-bad/commands', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error).toBe('invalid_parameter');
      expect(Object.keys(res.json.details.fields).sort(), JSON.stringify(body)).toEqual(fields);
    }
    expect((await server.admin('GET', '/api/devices/cmd-bad/commands')).json.commands).toEqual([]);
    expect((await poll('cmd-bad')).json.count).toBe(0);
    expect(
      (await server.admin('POST', '/api/devices/nobody/commands', { type: 'set_power', power_value: 0 }))
        .status,
    ).toBe(404);
  });

  it('authenticates device requests: envelopes in the upload nonce sequence, bare only where allowed', async () => {
    const field = new EmulatedFieldDevice('cmd-sec');
    await addDevice('cmd-sec', {});
    expect((await post(server.url, field.nextUpload())).status).toBe(200);
    const c = await send('cmd-sec', { type: 'set_power_percentage', percentage: 45 });
    const bare = await poll('cmd-sec');
    expect(bare.status).toBe(403);
    expect(bare.json.error).toBe('unsecured_not_allowed');

    const sealedPoll = field.sealed({ timestamp: 1 });
    const p = await device('POST', '/commands/cmd-sec/poll', sealedPoll);
    expect(p.status).toBe(200);
    expect(p.json.commands[0].command_id).toBe(c.id);
    expect((await device('POST', '/commands/cmd-sec/poll', sealedPoll)).json.error).toBe('replayed_nonce');
    // The envelope names its device; another path is refused.
    expect((await device('POST', '/commands/cmd-three/poll', field.sealed({}))).status).toBe(401);
    const r = await device(
      'POST',
      '/commands/cmd-sec/result',
      field.sealed({ command_id: c.id, status: 'succeeded' }),
    );
    expect(r.json).toMatchObject({ status: 'succeeded' });
    expect((await report('cmd-sec', { command_id: c.id, status: 'failed' })).status).toBe(403);
  });

  it('sends, lists and cancels from the CLI', async () => {
    await addDevice('cmd-cli');
    const sent = await cli(
      'command',
      'send',
      'cmd-cli',
      'write_register',
      'register=Pow',
      'value=55',
      '--reason',
      'test',
    );
    expect(sent.code, sent.stderr).toBe(0);
    const id = JSON.parse(sent.stdout).id as string;
    const bad = await cli('command', 'send', 'cmd-cli', 'write_register', 'register=Pac', 'value=55');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/read-only/);
    const list = await cli('command', 'list', 'cmd-cli');
    expect(list.stdout).toMatch(
      new RegExp(`^${id}\\twrite_register\\tregister_address=8,value=55\\tpending\\t0/3`, 'm'),
    );
    const cancel = await cli('command', 'cancel', 'cmd-cli', id, '--reason', 'not needed');
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout).status).toBe('cancelled');
    expect((await poll('cmd-cli')).json.count).toBe(0);
  });
});
