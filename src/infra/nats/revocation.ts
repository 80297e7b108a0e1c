// 16/ECAP revocation broadcasts from any credential provider: a revoked credential ends its client
// sessions, a revoked token its endpoint sessions.
import type { Logger } from 'pino';
import { codecs, type CredentialRevokedEvent, type TokenRevokedEvent } from './codecs.js';
import type { NatsLink } from './connection.js';
import { decodeOrWarn } from './decode-or-warn.js';
import { subjects } from './subjects.js';

export interface RevocationHandler {
  credentialRevoked(event: CredentialRevokedEvent): void;
  tokenRevoked(event: TokenRevokedEvent): void;
}

export function subscribeRevocations(nats: NatsLink, logger: Logger, handler: RevocationHandler): void {
  nats.subscribe(subjects.credentialRevoked, (msg) => {
    const event = decodeOrWarn(() => codecs.credentialRevoked.decode(msg.data), msg.subject, logger, 'revocation event');
    if (event) handler.credentialRevoked(event);
  });
  nats.subscribe(subjects.tokenRevoked, (msg) => {
    const event = decodeOrWarn(() => codecs.tokenRevoked.decode(msg.data), msg.subject, logger, 'revocation event');
    if (event) handler.tokenRevoked(event);
  });
}
