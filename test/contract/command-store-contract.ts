/**
 * The behaviour every CommandStore adapter must have, as CommandService relies on it: a per-device
 * queue, listed newest first; handed out one command at a time, oldest first, under a lease;
 * offered again when the lease lapses, expired after its last attempt; a result recorded once;
 * cancellation only of a command not with the device. Each adapter's test file calls
 * `commandStoreContract` with a factory for a fresh, empty store and the Storage it shares a
 * database with (for the audit log).
 */
import { describe, expect, it } from 'vitest';
import type { CommandStore, NewCommand, StoredCommand } from '../../src/ports/command-store.js';
import type { Storage } from '../../src/ports/storage.js';

export interface OpenedCommandStore {
  store: CommandStore;
  /** The Storage of the same database. */
  storage: Pick<Storage, 'listAudit'>;
  close(): Promise<void>;
}

/** Times as the server writes them (ms since the epoch, far beyond 32 bits). */
const T0 = 1_760_000_000_000;
const LEASE = 60_000;

const newCommand = (deviceId: string, over: Partial<NewCommand> = {}): NewCommand => ({
  deviceId,
  type: 'set_power_percentage',
  params: { percentage: 40 },
  percent: 40,
  maxAttempts: 3,
  leaseMs: LEASE,
  createdAt: T0,
  createdBy: 'admin',
  reason: 'peak shaving',
  ...over,
});

async function commandAudit(storage: OpenedCommandStore['storage']) {
  return (await storage.listAudit({ limit: 100 })).filter((a) => a.action.startsWith('command.'));
}

export function commandStoreContract(name: string, open: () => Promise<OpenedCommandStore>): void {
  const withStore = (fn: (s: OpenedCommandStore) => Promise<void>) => async () => {
    const s = await open();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };

  describe(`CommandStore contract: ${name}`, () => {
    it(
      'queues a command as pending, with everything it was given, and audits it',
      withStore(async ({ store, storage }) => {
        const c = await store.createCommand(
          newCommand('d1', {
            type: 'write_register',
            params: { register: 8, value: 75 },
            percent: 75,
            maxAttempts: 5,
            leaseMs: 30_000,
            createdBy: 'alice',
          }),
        );
        expect(c.id).toMatch(/^\d+$/);
        expect(c).toEqual({
          id: c.id,
          deviceId: 'd1',
          type: 'write_register',
          params: { register: 8, value: 75 },
          percent: 75,
          status: 'pending',
          attempts: 0,
          maxAttempts: 5,
          leaseMs: 30_000,
          leaseUntil: null,
          createdAt: T0,
          createdBy: 'alice',
          reason: 'peak shaving',
          deliveredAt: null,
          completedAt: null,
          detail: null,
          cancelledBy: null,
        });
        expect(await store.getCommand('d1', c.id)).toEqual(c);
        // Ids are per store, not guessable across devices or malformed.
        expect(await store.getCommand('d2', c.id)).toBeUndefined();
        expect(await store.getCommand('d1', '999999')).toBeUndefined();
        expect(await store.getCommand('d1', 'abc')).toBeUndefined();
        expect(await store.getCommand('d1', '')).toBeUndefined();

        const second = await store.createCommand(newCommand('d1', { reason: null }));
        expect(Number(second.id)).toBeGreaterThan(Number(c.id));
        expect(second.reason).toBeNull();

        const audit = await commandAudit(storage);
        expect(audit.map((a) => a.action)).toEqual(['command.created', 'command.created']);
        expect(audit[1]).toMatchObject({
          time: T0,
          actor: 'alice',
          deviceId: 'd1',
          reason: 'peak shaving',
          detail: { command: c.id, type: 'write_register', params: { register: 8, value: 75 }, attempts: 0 },
        });
      }),
    );

    it(
      "lists a device's commands newest first, each with its status",
      withStore(async ({ store }) => {
        const a = await store.createCommand(newCommand('d1'));
        const b = await store.createCommand(newCommand('d1', { createdAt: T0 + 1 }));
        const other = await store.createCommand(newCommand('d2'));
        const c = await store.createCommand(newCommand('d1', { createdAt: T0 + 2 }));
        const d = await store.createCommand(newCommand('d1', { createdAt: T0 + 3 }));
        await store.leaseNext('d1', T0 + 10);
        await store.recordResult('d1', a.id, 'succeeded', 'ok', T0 + 11);
        await store.leaseNext('d1', T0 + 12);
        await store.cancelCommand('d1', c.id, 'admin', null, T0 + 13);

        const listed = await store.listCommands('d1', 10);
        expect(listed.map((x) => [x.id, x.status])).toEqual([
          [d.id, 'pending'],
          [c.id, 'cancelled'],
          [b.id, 'in_flight'],
          [a.id, 'succeeded'],
        ]);
        // What the list holds is what a single read holds.
        for (const x of listed) expect(await store.getCommand('d1', x.id)).toEqual(x);
        expect((await store.listCommands('d1', 2)).map((x) => x.id)).toEqual([d.id, c.id]);
        expect(await store.listCommands('d2', 10)).toEqual([other]);
        expect(await store.listCommands('nobody', 10)).toEqual([]);
      }),
    );

    it(
      'hands out one command at a time, oldest first, under a lease',
      withStore(async ({ store }) => {
        expect(await store.leaseNext('d1', T0)).toEqual([]);
        const a = await store.createCommand(newCommand('d1'));
        const b = await store.createCommand(newCommand('d1', { params: { percentage: 50 }, percent: 50 }));
        const x = await store.createCommand(newCommand('d2'));

        const [first, ...more] = await store.leaseNext('d1', T0 + 100);
        expect(more).toEqual([]);
        expect(first).toEqual({
          ...a,
          status: 'in_flight',
          attempts: 1,
          leaseUntil: T0 + 100 + LEASE,
          deliveredAt: T0 + 100,
        });
        expect(await store.getCommand('d1', a.id)).toEqual(first);
        // While it is with the device, the next one waits, however often the device polls.
        expect(await store.leaseNext('d1', T0 + 200)).toEqual([]);
        expect(await store.getCommand('d1', b.id)).toEqual(b);
        // Another device's queue is its own.
        expect((await store.leaseNext('d2', T0 + 200)).map((c) => c.id)).toEqual([x.id]);

        await store.recordResult('d1', a.id, 'succeeded', null, T0 + 300);
        expect(await store.leaseNext('d1', T0 + 400)).toEqual([
          { ...b, status: 'in_flight', attempts: 1, leaseUntil: T0 + 400 + LEASE, deliveredAt: T0 + 400 },
        ]);
        await store.recordResult('d1', b.id, 'failed', 'inverter busy', T0 + 500);
        expect(await store.leaseNext('d1', T0 + 600)).toEqual([]);
      }),
    );

    it(
      'offers a command again once its lease lapses, and expires it after its last attempt',
      withStore(async ({ store }) => {
        const a = await store.createCommand(newCommand('d1', { maxAttempts: 2, leaseMs: 1000 }));
        const b = await store.createCommand(newCommand('d1'));

        expect((await store.leaseNext('d1', T0))[0]).toMatchObject({
          id: a.id,
          attempts: 1,
          leaseUntil: T0 + 1000,
        });
        expect(await store.leaseNext('d1', T0 + 999)).toEqual([]);
        // The lease runs out at leaseUntil: the same command, a second attempt.
        expect(await store.leaseNext('d1', T0 + 1000)).toEqual([
          {
            ...a,
            status: 'in_flight',
            attempts: 2,
            leaseUntil: T0 + 2000,
            deliveredAt: T0 + 1000,
          },
        ]);
        // Its last lease lapses: expired when the lease ran out, and the next command goes out.
        const [next] = await store.leaseNext('d1', T0 + 5000);
        expect(next).toMatchObject({ id: b.id, status: 'in_flight', attempts: 1 });
        expect(await store.getCommand('d1', a.id)).toEqual({
          ...a,
          status: 'expired',
          attempts: 2,
          leaseUntil: null,
          deliveredAt: T0 + 1000,
          completedAt: T0 + 2000,
        });
        expect((await store.listCommands('d1', 10)).map((c) => c.status)).toEqual(['in_flight', 'expired']);
      }),
    );

    it(
      'records a result once: a repeated result changes nothing',
      withStore(async ({ store }) => {
        const a = await store.createCommand(newCommand('d1'));
        // Never handed out: no result can be true.
        expect(await store.recordResult('d1', a.id, 'succeeded', null, T0 + 1)).toEqual({
          ok: false,
          reason: 'not_delivered',
          command: a,
        });
        expect(await store.getCommand('d1', a.id)).toEqual(a);
        expect(await store.recordResult('d1', '999999', 'succeeded', null, T0)).toEqual({
          ok: false,
          reason: 'not_found',
        });
        expect(await store.recordResult('d1', 'x1', 'succeeded', null, T0)).toEqual({
          ok: false,
          reason: 'not_found',
        });
        expect(await store.recordResult('d2', a.id, 'succeeded', null, T0)).toEqual({
          ok: false,
          reason: 'not_found',
        });

        const [leased] = await store.leaseNext('d1', T0 + 10);
        const done = {
          ...leased,
          status: 'succeeded',
          leaseUntil: null,
          completedAt: T0 + 20,
          detail: 'executed at 2025-01-01T00:00:00Z (device clock)',
        };
        expect(await store.recordResult('d1', a.id, 'succeeded', done.detail, T0 + 20)).toEqual({
          ok: true,
          command: done,
          duplicate: false,
        });
        expect(await store.recordResult('d1', a.id, 'failed', 'second thoughts', T0 + 30)).toEqual({
          ok: true,
          command: done,
          duplicate: true,
        });
        expect(await store.recordResult('d1', a.id, 'succeeded', null, T0 + 40)).toEqual({
          ok: true,
          command: done,
          duplicate: true,
        });
        expect(await store.getCommand('d1', a.id)).toEqual(done);
        // A finished command is not handed out again.
        expect(await store.leaseNext('d1', T0 + 10 + 2 * LEASE)).toEqual([]);
      }),
    );

    it(
      'takes a late result as the truth, after the lease lapsed or the command expired',
      withStore(async ({ store }) => {
        const a = await store.createCommand(newCommand('d1', { maxAttempts: 1, leaseMs: 1000 }));
        const b = await store.createCommand(newCommand('d1', { maxAttempts: 2, leaseMs: 1000 }));
        await store.leaseNext('d1', T0);
        // a's only lease lapses; the poll expires it and hands out b.
        expect((await store.leaseNext('d1', T0 + 1000)).map((c) => c.id)).toEqual([b.id]);
        expect((await store.getCommand('d1', a.id))?.status).toBe('expired');
        const late = await store.recordResult('d1', a.id, 'succeeded', 'late', T0 + 1500);
        expect(late).toMatchObject({
          ok: true,
          duplicate: false,
          command: {
            id: a.id,
            status: 'succeeded',
            detail: 'late',
            completedAt: T0 + 1500,
            leaseUntil: null,
          },
        });
        // b's lease lapsed, not yet settled by a poll: its result still counts.
        const lapsed = await store.recordResult('d1', b.id, 'failed', 'refused', T0 + 2500);
        expect(lapsed).toMatchObject({
          ok: true,
          duplicate: false,
          command: { id: b.id, status: 'failed', attempts: 1, detail: 'refused', completedAt: T0 + 2500 },
        });
        expect(await store.leaseNext('d1', T0 + 3000)).toEqual([]);
      }),
    );

    it(
      'cancels only a command not yet with the device, and never hands a cancelled one out',
      withStore(async ({ store, storage }) => {
        const a = await store.createCommand(newCommand('d1'));
        const b = await store.createCommand(newCommand('d1'));
        const c = await store.createCommand(newCommand('d1'));

        const cancelled = await store.cancelCommand('d1', a.id, 'bob', 'wrong value', T0 + 5);
        expect(cancelled).toEqual({
          ok: true,
          command: { ...a, status: 'cancelled', completedAt: T0 + 5, cancelledBy: 'bob' },
        });
        expect(await store.getCommand('d1', a.id)).toEqual((cancelled as { command: StoredCommand }).command);
        // The oldest still pending goes out instead.
        const [leased] = await store.leaseNext('d1', T0 + 10);
        expect(leased.id).toBe(b.id);

        // With the device: refused, nothing changes.
        expect(await store.cancelCommand('d1', b.id, 'bob', null, T0 + 20)).toEqual({
          ok: false,
          reason: 'in_flight',
          command: leased,
        });
        expect(await store.getCommand('d1', b.id)).toEqual(leased);
        // Finished (result or cancel): refused with the status it has.
        await store.recordResult('d1', b.id, 'succeeded', null, T0 + 30);
        expect(await store.cancelCommand('d1', b.id, 'bob', null, T0 + 40)).toMatchObject({
          ok: false,
          reason: 'finished',
          command: { id: b.id, status: 'succeeded' },
        });
        expect(await store.cancelCommand('d1', a.id, 'bob', null, T0 + 40)).toMatchObject({
          ok: false,
          reason: 'finished',
          command: { id: a.id, status: 'cancelled', completedAt: T0 + 5 },
        });
        expect(await store.cancelCommand('d1', '999999', 'bob', null, T0)).toEqual({
          ok: false,
          reason: 'not_found',
        });
        expect(await store.cancelCommand('d1', 'c-1', 'bob', null, T0)).toEqual({
          ok: false,
          reason: 'not_found',
        });
        expect(await store.cancelCommand('d2', c.id, 'bob', null, T0)).toEqual({
          ok: false,
          reason: 'not_found',
        });

        const audit = await commandAudit(storage);
        expect(audit.map((x) => x.action)).toEqual([
          'command.cancelled',
          'command.created',
          'command.created',
          'command.created',
        ]);
        expect(audit[0]).toMatchObject({
          time: T0 + 5,
          actor: 'bob',
          deviceId: 'd1',
          reason: 'wrong value',
          detail: { command: a.id, type: a.type, params: a.params, attempts: 0 },
        });
      }),
    );

    it(
      'cancels a command whose lease lapsed with attempts left, and settles one that ran out of them',
      withStore(async ({ store }) => {
        const a = await store.createCommand(newCommand('d1', { maxAttempts: 2, leaseMs: 1000 }));
        await store.leaseNext('d1', T0);
        // The lease lapsed: the command is no longer with the device and may be withdrawn.
        const withdrawn = await store.cancelCommand('d1', a.id, 'bob', null, T0 + 1000);
        expect(withdrawn).toMatchObject({
          ok: true,
          command: {
            status: 'cancelled',
            attempts: 1,
            leaseUntil: null,
            completedAt: T0 + 1000,
            cancelledBy: 'bob',
          },
        });
        expect(await store.leaseNext('d1', T0 + 1001)).toEqual([]);

        const b = await store.createCommand(newCommand('d1', { maxAttempts: 1, leaseMs: 1000 }));
        await store.leaseNext('d1', T0 + 2000);
        // Its only lease lapsed: too late to cancel, it expired when the lease ran out.
        const expired = {
          ...b,
          status: 'expired',
          attempts: 1,
          deliveredAt: T0 + 2000,
          completedAt: T0 + 3000,
        };
        expect(await store.cancelCommand('d1', b.id, 'bob', null, T0 + 9000)).toEqual({
          ok: false,
          reason: 'finished',
          command: expired,
        });
        expect(await store.getCommand('d1', b.id)).toEqual(expired);
      }),
    );

    it(
      'hands a command to one of many concurrent polls, and takes one of many concurrent results',
      withStore(async ({ store }) => {
        const polls = (time: number) =>
          Promise.all(Array.from({ length: 16 }, () => store.leaseNext('d1', time))).then((p) => p.flat());
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push((await store.createCommand(newCommand('d1'))).id);
        for (const [round, id] of ids.entries()) {
          const time = T0 + round * 10_000;
          const handed = await polls(time);
          expect(handed).toHaveLength(1);
          expect(handed[0]).toMatchObject({ id, attempts: 1, status: 'in_flight', deliveredAt: time });

          const results = await Promise.all(
            Array.from({ length: 8 }, (_, i) =>
              store.recordResult('d1', id, i % 2 ? 'failed' : 'succeeded', `r${i}`, time + 1 + i),
            ),
          );
          expect(results.filter((r) => r.ok && !r.duplicate)).toHaveLength(1);
          const stored = await store.getCommand('d1', id);
          for (const r of results) expect(r).toMatchObject({ ok: true, command: stored });
        }
        expect((await store.listCommands('d1', 10)).map((c) => c.attempts)).toEqual([1, 1, 1, 1, 1, 1]);

        // A lapsed lease, polled for at once from many sides: redelivered once.
        const late = await store.createCommand(newCommand('d1', { leaseMs: 1000 }));
        expect((await polls(T0 + 100_000)).map((c) => c.id)).toEqual([late.id]);
        const again = await polls(T0 + 101_000);
        expect(again).toHaveLength(1);
        expect(again[0]).toMatchObject({ id: late.id, attempts: 2, deliveredAt: T0 + 101_000 });
      }),
    );
  });
}
