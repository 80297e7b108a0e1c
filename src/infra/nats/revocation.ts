// 16/ECAP revocation broadcasts from any credential provider: a revoked credential ends its client
// sessions, a revoked token its endpoint sessions.
import { codecs, type CredentialRevokedEvent, type TokenRevokedEvent } from './codecs.js';
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './decode-or-warn.js';
import { subjects } from './subjects.js';

export interface RevocationHandler {
  credentialRevoked(event: CredentialRevokedEvent): void;
  tokenRevoked(event: TokenRevokedEvent): void;
}

export function subscribeRevocations(nats: NatsLink, undecodable: UndecodableMessages, handler: RevocationHandler): void {
  nats.subscribe(subjects.credentialRevoked, (msg) => {
    const event = undecodable.decode(() => codecs.credentialRevoked.decode(msg.data), subjects.credentialRevoked, msg.subject, 'revocation event');
    if (event) handler.credentialRevoked(event);
  });
  nats.subscribe(subjects.tokenRevoked, (msg) => {
    const event = undecodable.decode(() => codecs.tokenRevoked.decode(msg.data), subjects.tokenRevoked, msg.subject, 'revocation event');
    if (event) handler.tokenRevoked(event);
  });
}
