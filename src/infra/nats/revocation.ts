// Revocation broadcasts from any credential provider: 16/ECAP (credentials, endpoint tokens) and
// 22/CAP (basic and certificate client credentials).
import type { Logger } from 'pino';
import { codecs, type CapCredentialsRevokedEvent, type CredentialRevokedEvent, type TokenRevokedEvent } from './codecs.js';
import type { NatsLink } from './connection.js';
import { decodeOrWarn } from './decode-or-warn.js';
import { subjects } from './subjects.js';

export interface RevocationHandler {
  credentialRevoked(event: CredentialRevokedEvent): void;
  tokenRevoked(event: TokenRevokedEvent): void;
  clientCredentialsRevoked(event: CapCredentialsRevokedEvent): void;
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
  for (const subject of [subjects.capBasicRevoked, subjects.capCertificateRevoked]) {
    nats.subscribe(subject, (msg) => {
      const event = decodeOrWarn(() => codecs.capCredentialsRevoked.decode(msg.data), msg.subject, logger, 'revocation event');
      if (event) handler.clientCredentialsRevoked(event);
    });
  }
}
