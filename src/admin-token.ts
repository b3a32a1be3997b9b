/** The admin bearer token: from settings, or generated once and kept in the data directory. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function adminTokenFile(dataDir: string): string {
  return path.join(dataDir, 'admin-token');
}

export function loadOrCreateAdminToken(dataDir: string, configured: string | undefined): string {
  if (configured) return configured;
  const file = adminTokenFile(dataDir);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return token;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}
