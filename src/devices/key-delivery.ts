/**
 * Key rotation for protocol v2 devices: once a new key exists, the configuration answer to a
 * request made with the old key carries the new one, encrypted under the old key's K_enc (the
 * answer itself is authenticated by its X-EcoWatt-MAC). The device switches when it has it; the
 * server retires the old key when it sees the new one used (see the storage's rotation rule).
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import type { Device } from '../model/device.js';
import { deriveV2Keys } from '../protocol/envelope-v2.js';
import type { KeyVault } from './key-vault.js';

export interface KeyOffer {
  kid: string;
  /** base64 AES-128-CBC (PKCS#7) of the 32-byte new key, under the old key's K_enc. */
  key: string;
  /** base64 of the 16-byte random IV. */
  iv: string;
}

export class KeyDelivery {
  constructor(private readonly vault?: KeyVault) {}

  private open(stored: string): Buffer {
    return Buffer.from(this.vault ? this.vault.open(stored) : stored, 'hex');
  }

  /** The newest active v2 key of the device, if it is not the one the request used. */
  offer(device: Device, usedKid: string | null): KeyOffer | null {
    if (usedKid === null) return null;
    const active = device.keys.filter((k) => k.status === 'active' && k.kind === 'v2');
    const used = active.find((k) => k.kid === usedKid);
    const newest = active[active.length - 1];
    if (!used || !newest || newest.kid === usedKid) return null;
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', deriveV2Keys(this.open(used.hmacKey)).encKey, iv);
    const key = Buffer.concat([cipher.update(this.open(newest.hmacKey)), cipher.final()]);
    return { kid: newest.kid, key: key.toString('base64'), iv: iv.toString('base64') };
  }
}
