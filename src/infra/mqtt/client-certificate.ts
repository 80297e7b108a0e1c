// The client certificate of a TLS connection, as 16/ECAP wants it: the issuer DN as an RFC 4514
// string (`CN=Device CA,O=Example`) and the serial number in base 10, as 16/ECAP's certificate request carries them.
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
 * Node prints a DN one RDN per line, most significant first (`C=…\nO=…\nCN=…`), with each value
 * already escaped as RFC 2253/4514 asks (OpenSSL's ASN1_STRFLGS_ESC_2253: `\,` `\+` `\"` `\\` `\<`
 * `\>` `\;`, a leading `#` or space, a trailing space) and the members of a multi-valued RDN joined
 * by ` + `. RFC 4514 lists the RDNs most specific first, comma-separated, members joined by `+`.
 * Escaping again would double every backslash (`O=A\, Inc.` would become `O=A\\\, Inc.`).
 */
export function rfc4514(nodeDistinguishedName: string): string {
  return nodeDistinguishedName
    .split('\n')
    .filter((line) => line.length > 0)
    .reverse()
    .map((rdn) => rdn.replaceAll(' + ', '+'))
    .join(',');
}
