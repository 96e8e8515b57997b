import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'tly_';
/** A source's ingest key (sources.service): distinct from API tokens so a key pasted in the wrong place is recognisable. */
export const INGEST_KEY_PREFIX = 'tik_';

/** A new secret: 256 random bits, base64url, with a recognisable prefix (secret scanners, logs). */
export function generateSecret(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of the secret. Secrets carry 256 bits of entropy, so a slow password hash adds
 * nothing and would cost every request; the database never holds the secret itself.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Enough of the secret to tell tokens apart in a list, not enough to use it. */
export function secretPrefix(secret: string): string {
  return secret.slice(0, PREFIX.length + 6);
}

export type BearerParse = { ok: true; secret: string } | { ok: false; reason: string } | { ok: null };

/** Reads `Authorization: Bearer <secret>`; anything else is a clear reason, never an exception. */
export function parseBearer(header: unknown): BearerParse {
  if (header === undefined || header === null || header === '') return { ok: null };
  if (typeof header !== 'string') return { ok: false, reason: 'Authorization header must be a string "Bearer <token>"' };
  const m = /^\s*Bearer\s+([!-~]{8,512})\s*$/i.exec(header);
  if (!m?.[1]) return { ok: false, reason: 'malformed Authorization header: expected "Bearer <token>"' };
  return { ok: true, secret: m[1] };
}
