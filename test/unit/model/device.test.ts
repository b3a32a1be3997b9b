import { describe, expect, it } from 'vitest';
import { keysRetiredByUse } from '../../../src/model/device.js';

describe('a key rotation', () => {
  it('ends when the device uses its newest key: every older active key is retired', () => {
    expect(keysRetiredByUse(['k1', 'k2', 'k3'], 'k3')).toEqual(['k1', 'k2']);
  });
  it('goes on while the device still uses an older key, or the fleet key', () => {
    expect(keysRetiredByUse(['k1', 'k2'], 'k1')).toEqual([]);
    expect(keysRetiredByUse(['k1', 'k2'], null)).toEqual([]);
    expect(keysRetiredByUse(['k1'], 'k1')).toEqual([]);
  });
});
