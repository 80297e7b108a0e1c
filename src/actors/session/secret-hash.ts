import { createHash } from 'node:crypto';

/** A short, stable, non-reversible label for a token or other secret, for logs and inspection. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 10);
}
