// A throw-away PKI for the TLS tests, made with the `openssl` command line into a temp dir:
//
//   deviceCa      CN=Test Device CA,O=KPC Tests          trusted by KPC (tls.ca-file); signs the
//                                                         server certificate and most client ones
//   otherCa       CN=Test Device CA 2,O=KPC Tests\, Inc.  also trusted; its name needs RFC 4514 escaping
//   untrustedCa   the SAME name as deviceCa, another key  not in tls.ca-file (an impostor CA)
//
// Client certificates (each with its issuer as an RFC 4514 string and its serial in base 10, the
// two values KPC sends in a 16/ECAP client-certificate-request):
//   device, device2, unknown   deviceCa, valid (the tests decide which ones the ECAP provider knows)
//   expired                    deviceCa, valid 2020-01-01 to 2020-01-02 (`openssl ca -startdate/-enddate`)
//   impostor                   untrustedCa, same issuer name AND serial as `device`
//   escapedIssuer              otherCa, valid
//
// The expected issuer strings come from `openssl x509 -issuer -nameopt RFC2253`, not from the
// Node code KPC uses, so the tests compare KPC against an independent implementation.
import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** PEM text of the certificate and of its private key. */
  cert: string;
  key: string;
}

export interface ClientCertificate extends CertificateFiles {
  name: string;
  /** Issuer DN as an RFC 4514 string, e.g. `CN=Test Device CA,O=KPC Tests`. */
  issuer: string;
  /** Serial number in base 10. */
  serialNumber: string;
  /** The dev ECAP provider's key for it in `credentials.certificates`: `${issuer}|${serialNumber}`. */
  ecapKey: string;
}

export interface TestPki {
  dir: string;
  deviceCa: CertificateFiles & { subject: string };
  otherCa: CertificateFiles & { subject: string };
  untrustedCa: CertificateFiles & { subject: string };
  /** deviceCa + otherCa, PEM concatenated: KPC's `tls.ca-file`, and what clients trust the server with. */
  trustedCaFile: string;
  trustedCa: string;
  /** CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by deviceCa. */
  server: CertificateFiles;
  clients: {
    device: ClientCertificate;
    device2: ClientCertificate;
    unknown: ClientCertificate;
    expired: ClientCertificate;
    impostor: ClientCertificate;
    escapedIssuer: ClientCertificate;
  };
  /** Another server certificate (CN=localhost, same SANs, a fresh serial and key), signed by deviceCa. */
  issueServerCertificate(name: string): Promise<CertificateFiles & { serialNumber: string }>;
  /** Removes the temp dir (also done at process exit if forgotten). */
  cleanup(): void;
}

export const DEVICE_CA_SUBJECT = '/O=KPC Tests/CN=Test Device CA';
export const OTHER_CA_SUBJECT = '/O=KPC Tests, Inc./CN=Test Device CA 2';

const liveDirs = new Set<string>();
process.once('exit', () => liveDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function openssl(dir: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('openssl', args, { cwd: dir, env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/** A random positive serial of 16 bytes (well above 2^53: only exact integer arithmetic gets it right), as hex. */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return bytes.toString('hex').toUpperCase();
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function files(dir: string, name: string): CertificateFiles {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return {
    certFile,
    keyFile,
    get cert() {
      return readFileSync(certFile, 'utf8');
    },
    get key() {
      return readFileSync(keyFile, 'utf8');
    },
  };
}

async function makeCa(dir: string, name: string, subject: string): Promise<CertificateFiles & { subject: string }> {
  const f = files(dir, name);
  await openssl(dir, [
    'req', '-x509', ...EC_KEY, '-keyout', f.keyFile, '-out', f.certFile, '-days', '3650', '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { ...f, cert: f.cert, key: f.key, subject };
}

/** A key and a CSR for `subject`; returns the CSR path. */
async function makeRequest(dir: string, name: string, subject: string): Promise<string> {
  const f = files(dir, name);
  const csr = join(dir, `${name}.csr`);
  await openssl(dir, ['req', '-new', ...EC_KEY, '-keyout', f.keyFile, '-out', csr, '-subj', subject]);
  return csr;
}

function extensionsFile(dir: string, name: string, lines: string[]): string {
  const file = join(dir, `${name}.ext`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const CLIENT_EXTENSIONS = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];

async function signWithX509(dir: string, name: string, csr: string, ca: CertificateFiles, serialHex: string, ext: string): Promise<void> {
  await openssl(dir, [
    'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${serialHex}`,
    '-days', '30', '-sha256', '-extfile', ext, '-out', files(dir, name).certFile,
  ]);
}

/**
 * OpenSSL 3.0's `x509` has no -not_before/-not_after (3.4+), so the expired certificate is made by
 * `openssl ca` with explicit -startdate/-enddate. Its serial comes from the CA's serial file.
 */
async function signExpired(dir: string, name: string, csr: string, ca: CertificateFiles, serialHex: string, ext: string): Promise<void> {
  const db = join(dir, `${name}-ca-db`);
  rmSync(db, { recursive: true, force: true });
  mkdirSync(db);
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), `${serialHex}\n`);
  const config = join(db, 'ca.cnf');
  writeFileSync(
    config,
    [
      '[ ca ]', 'default_ca = test_ca',
      '[ test_ca ]', `serial = ${join(db, 'serial')}`, `database = ${join(db, 'index.txt')}`, `new_certs_dir = ${db}`,
      'default_md = sha256', 'policy = policy_any', 'unique_subject = no', 'email_in_dn = no', 'copy_extensions = none',
      '[ policy_any ]', 'commonName = supplied', 'organizationName = optional',
      '',
    ].join('\n'),
  );
  await openssl(dir, [
    'ca', '-batch', '-config', config, '-cert', ca.certFile, '-keyfile', ca.keyFile, '-in', csr, '-out', files(dir, name).certFile,
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext', '-extfile', ext,
  ]);
}

/** Issuer (RFC 4514, by openssl) and serial (base 10, by Node's X509Certificate) of a certificate. */
async function describeClient(dir: string, name: string): Promise<ClientCertificate> {
  const f = files(dir, name);
  // RFC2253 escapes non-ASCII as \XX by default; -esc_msb keeps UTF-8, which RFC 4514 allows.
  const printed = (await openssl(dir, ['x509', '-in', f.certFile, '-noout', '-issuer', '-nameopt', 'RFC2253,-esc_msb'])).trim();
  if (!printed.startsWith('issuer=')) throw new Error(`unexpected openssl -issuer output: ${printed}`);
  const issuer = printed.slice('issuer='.length);
  const serialNumber = BigInt(`0x${new X509Certificate(f.cert).serialNumber}`).toString(10);
  return { name, ...f, cert: f.cert, key: f.key, issuer, serialNumber, ecapKey: `${issuer}|${serialNumber}` };
}

export async function createTestPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'kpc-test-pki-'));
  liveDirs.add(dir);
  const cleanup = () => {
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };
  try {
    const [deviceCa, otherCa, untrustedCa] = await Promise.all([
      makeCa(dir, 'device-ca', DEVICE_CA_SUBJECT),
      makeCa(dir, 'other-ca', OTHER_CA_SUBJECT),
      makeCa(dir, 'untrusted-ca', DEVICE_CA_SUBJECT),
    ]);
    const trustedCa = deviceCa.cert + otherCa.cert;
    const trustedCaFile = join(dir, 'trusted-cas.pem');
    writeFileSync(trustedCaFile, trustedCa);

    const serverExt = extensionsFile(dir, 'server', [
      'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    const issueServerCertificate = async (name: string) => {
      const serialHex = randomSerialHex();
      await signWithX509(dir, name, await makeRequest(dir, name, '/CN=localhost'), deviceCa, serialHex, serverExt);
      const f = files(dir, name);
      return { ...f, cert: f.cert, key: f.key, serialNumber: serialHex };
    };
    const clientExt = extensionsFile(dir, 'client', CLIENT_EXTENSIONS);
    const deviceSerial = randomSerialHex();
    const client = async (name: string, ca: CertificateFiles, serial = randomSerialHex(), expired = false) => {
      const csr = await makeRequest(dir, name, `/O=KPC Tests/CN=${name}`);
      await (expired ? signExpired : signWithX509)(dir, name, csr, ca, serial, clientExt);
      return describeClient(dir, name);
    };
    const { serialNumber: _serverSerial, ...server } = await issueServerCertificate('server');

    const [device, device2, unknown, expired, impostor, escapedIssuer] = await Promise.all([
      client('device', deviceCa, deviceSerial),
      client('device2', deviceCa),
      client('unknown', deviceCa),
      client('expired', deviceCa, randomSerialHex(), true),
      client('impostor', untrustedCa, deviceSerial),
      client('escaped-issuer', otherCa),
    ]);
    return {
      dir,
      deviceCa,
      otherCa,
      untrustedCa,
      trustedCaFile,
      trustedCa,
      server,
      clients: { device, device2, unknown, expired, impostor, escapedIssuer },
      issueServerCertificate,
      cleanup,
    };
  } catch (error) {
    cleanup();
    throw error;
  }
}
