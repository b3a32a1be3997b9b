/** Typed calls between two threads, over a real MessageChannel (both ends on this thread). */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadChannel } from '../../../src/mqtt/thread-channel.js';
import { eventually } from '../../helpers/eventually.js';

interface Left {
  add(a: number, b: number): Promise<number>;
  fail(): Promise<void>;
  note(text: string): void;
}
interface Right {
  echo(text: string): Promise<string>;
}

const ports: MessagePort[] = [];
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

function pair(): { left: ThreadChannel<Left, Right>; right: ThreadChannel<Right, Left> } {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  const left = new ThreadChannel<Left, Right>(port1);
  const right = new ThreadChannel<Right, Left>(port2);
  port1.on('message', (msg: unknown) => left.receive(msg));
  port2.on('message', (msg: unknown) => right.receive(msg));
  return { left, right };
}

describe('thread channel', () => {
  it('answers calls both ways, several at once, and passes errors back as errors', async () => {
    const { left, right } = pair();
    const notes: string[] = [];
    left.serve({
      add: async (a, b) => a + b,
      fail: async () => {
        throw new Error('refused');
      },
      note: (text) => {
        notes.push(text);
      },
    });
    right.serve({ echo: async (text) => `${text}!` });
    expect(await Promise.all([right.call('add', 1, 2), right.call('add', 3, 4)])).toEqual([3, 7]);
    expect(await left.call('echo', 'hi')).toBe('hi!');
    await expect(right.call('fail')).rejects.toThrow('refused');
    right.tell('note', 'a');
    right.tell('note', 'b');
    await eventually(async () => expect(notes).toEqual(['a', 'b']));
  });

  it('fails calls nobody serves, and those waiting when the other side is gone', async () => {
    const { left, right } = pair();
    await expect(right.call('add', 1, 2)).rejects.toThrow('add: not served');
    // Told before anything is served: dropped, not an error.
    right.tell('note', 'early');
    left.serve({
      add: () => new Promise<number>(() => undefined),
      fail: async () => undefined,
      note: () => undefined,
    });
    const waiting = right.call('add', 1, 2);
    right.fail('gone');
    await expect(waiting).rejects.toThrow('gone');
  });

  it('leaves messages that are not its own to the caller', () => {
    const { left } = pair();
    expect(left.receive({ type: 'started' })).toBe(false);
    expect(left.receive(null)).toBe(false);
  });
});
