// HTTP Basic credentials of 1/KP over HTTP, validated like an MQTT CONNECT's username and password:
// through the 16/ECAP provider, behind the same authentication gate (a bounded number in flight,
// identical credentials share one validation, refused ones are refused from memory for a while).
import { isCredentialRefusal } from '../../machines/client-session.machine.js';
import type { ClientAuthenticator } from '../ports.js';
import { credentialKey, type AuthenticationGate } from './authentication-gate.js';

export type HttpClientAuthentication =
  | { outcome: 'accepted'; clientId: string | null }
  /** The provider refused them (as it would refuse an MQTT CONNECT's): HTTP 401. */
  | { outcome: 'refused' }
  /** The provider timed out, failed or answered 5xx, or too many validations are in flight: HTTP 503. */
  | { outcome: 'unavailable' };

export async function authenticateHttpClient(
  gate: AuthenticationGate,
  credentials: ClientAuthenticator,
  username: string,
  password: string,
): Promise<HttpClientAuthentication> {
  if (!gate.hasFreeSlot('http')) return { outcome: 'unavailable' };
  gate.take('http');
  try {
    const outcome = await gate.validate(credentialKey(username, password), () => credentials.validateUsernamePassword(username, password));
    if (!outcome.ok) return { outcome: 'unavailable' };
    const { statusCode, clientId, credentialId } = outcome.reply;
    if (statusCode === 200 && credentialId !== null) return { outcome: 'accepted', clientId };
    return isCredentialRefusal(statusCode) ? { outcome: 'refused' } : { outcome: 'unavailable' };
  } finally {
    gate.release('http');
  }
}
