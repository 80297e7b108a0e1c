// Revocation broadcasts from any credential provider: 16/ECAP (credentials, endpoint tokens) and
// 22/CAP (basic and certificate client credentials).
import { codecs, type CapCredentialsRevokedEvent, type CredentialRevokedEvent, type TokenRevokedEvent } from './codecs.js';
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './undecodable-messages.js';
import { subjects } from './subjects.js';

export interface RevocationHandler {
  credentialRevoked(event: CredentialRevokedEvent): void;
  tokenRevoked(event: TokenRevokedEvent): void;
  clientCredentialsRevoked(event: CapCredentialsRevokedEvent): void;
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
  for (const subject of [subjects.capBasicRevoked, subjects.capCertificateRevoked]) {
    nats.subscribe(subject, (msg) => {
      const event = undecodable.decode(() => codecs.capCredentialsRevoked.decode(msg.data), subject, msg.subject, 'revocation event');
      if (event) handler.clientCredentialsRevoked(event);
    });
  }
}
