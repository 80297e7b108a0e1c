// The client certificate of a TLS connection, as 16/ECAP wants it: the issuer DN as an RFC 4514
// string (`CN=Device CA,O=Example`) and the serial number in base 10 (SPEC §3).
import { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { PresentedCertificate } from '../../actors/ports.js';
import { PacketSizeGuard } from './packet-size-guard.js';

export function presentedCertificate(stream: Duplex): PresentedCertificate | null {
  const socket = stream instanceof PacketSizeGuard ? stream.inner : stream;
  if (!(socket instanceof TLSSocket)) return null;
  const peer = socket.getPeerCertificate();
  if (peer === null || peer.raw === undefined) return null;
  const certificate = new X509Certificate(peer.raw);
  return {
    issuer: rfc4514(certificate.issuer),
    serialNumber: BigInt(`0x${certificate.serialNumber}`).toString(10),
    trusted: socket.authorized,
    problem: socket.authorizationError === null ? undefined : String(socket.authorizationError),
  };
}

/**
 * Node prints a DN one attribute per line, most significant first (`C=…\nO=…\nCN=…`);
 * RFC 4514 lists them most specific first, comma-separated, with special characters escaped.
 */
export function rfc4514(nodeDistinguishedName: string): string {
  return nodeDistinguishedName
    .split('\n')
    .filter((line) => line.length > 0)
    .reverse()
    .map((attribute) => {
      const equals = attribute.indexOf('=');
      return `${attribute.slice(0, equals)}=${escapeValue(attribute.slice(equals + 1))}`;
    })
    .join(',');
}

function escapeValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}
