// Certificates that rotate without dropping anyone: cert-manager (and a Kubernetes Secret volume)
// renews the server certificate in place, so KPC re-reads the certificate, key and CA files when
// they change and gives the TLS server a new secure context. New handshakes present the new
// certificate; established connections keep the session they negotiated.
//
// Change detection watches the files' DIRECTORIES: a Secret volume swaps a `..data` symlink and a
// careful writer renames a temp file over the old one, and a watch on the old file would follow
// the replaced inode and never fire again. A slow poll catches what no watch reports (network
// file systems, a directory that is itself a symlink elsewhere). A set of files that does not
// load (half written, key not matching the certificate) leaves the current certificate in place,
// is logged naming the file, and is tried again on the next change.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

export interface LoadedTlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  /** The served certificate's serial number (hex) and end of validity. */
  serialNumber: string;
  notAfter: Date;
}

export interface ReloadEvents {
  reloaded(loaded: LoadedTlsFiles): void;
  failed(error: Error): void;
}

/** Rename bursts (temp file, then rename; cert, then key) settle within this before loading. */
const SETTLE_MS = 200;
/** The fallback poll: cheap (three small reads), and a certificate renewed days early has time. */
export const TLS_POLL_INTERVAL_MS = 10_000;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads and checks the three files; throws an error naming the file at fault. */
export function loadTlsFiles(files: TlsFiles): LoadedTlsFiles {
  const cert = readNamed(files.certFile, 'certificate');
  const key = readNamed(files.keyFile, 'key');
  const ca = files.caFile === undefined ? undefined : readNamed(files.caFile, 'CA');
  const served = parseOrFail(files.certFile, 'is not a PEM certificate', () => new X509Certificate(cert));
  parseOrFail(files.keyFile, 'is not a PEM private key', () => createPrivateKey(key));
  if (ca !== undefined) {
    const blocks = ca.toString('latin1').match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) throw new Error(`TLS CA file '${files.caFile}' holds no PEM certificate`);
    for (const block of blocks) parseOrFail(files.caFile!, 'holds a certificate that does not parse', () => new X509Certificate(block));
  }
  // OpenSSL checks here that the key is the certificate's (ERR_OSSL_X509_KEY_VALUES_MISMATCH).
  parseOrFail(files.certFile, `does not go with the key in '${files.keyFile}'`, () => createSecureContext({ cert, key, ca }));
  return { cert, key, ca, serialNumber: served.serialNumber, notAfter: new Date(served.validTo) };
}

function readNamed(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`TLS ${what} file '${path}' cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function parseOrFail<T>(path: string, problem: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new Error(`TLS file '${path}' ${problem} (${(error as Error).message})`);
  }
}

export class CertificateReloader {
  private readonly watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  /** The bytes last tried, loaded or not: the same broken files are reported once, not every poll. */
  private lastTried: string;

  constructor(
    private readonly files: TlsFiles,
    initial: LoadedTlsFiles,
    private readonly apply: (loaded: LoadedTlsFiles) => void,
    private readonly events: ReloadEvents,
    private readonly onWatchError: (error: Error) => void,
  ) {
    this.lastTried = fingerprint(initial.cert, initial.key, initial.ca);
  }

  start(): void {
    const directories = new Set([this.files.certFile, this.files.keyFile, this.files.caFile].filter((f) => f !== undefined).map((f) => dirname(f)));
    for (const directory of directories) {
      try {
        const watcher = watch(directory, () => this.changed());
        watcher.on('error', (error) => this.onWatchError(error));
        this.watchers.push(watcher);
      } catch (error) {
        this.onWatchError(error as Error); // the poll still runs
      }
    }
    this.poll = setInterval(() => this.check(), TLS_POLL_INTERVAL_MS).unref();
  }

  stop(): void {
    for (const watcher of this.watchers) watcher.close();
    clearInterval(this.poll);
    clearTimeout(this.settle);
  }

  private changed(): void {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => this.check(), SETTLE_MS).unref();
  }

  /** Loads the files if their bytes differ from the last attempt; applies them if they load. */
  check(): void {
    const current = fingerprint(...this.readQuietly());
    if (current === this.lastTried) return;
    this.lastTried = current;
    let loaded: LoadedTlsFiles;
    try {
      loaded = loadTlsFiles(this.files);
    } catch (error) {
      this.events.failed(error as Error);
      return;
    }
    this.apply(loaded);
    this.events.reloaded(loaded);
  }

  private readQuietly(): [Buffer | undefined, Buffer | undefined, Buffer | undefined] {
    const read = (path: string | undefined) => {
      try {
        return path === undefined ? undefined : readFileSync(path);
      } catch {
        return undefined; // a missing file is reported by loadTlsFiles, by name
      }
    };
    return [read(this.files.certFile), read(this.files.keyFile), read(this.files.caFile)];
  }
}

function fingerprint(...parts: Array<Buffer | undefined>): string {
  return parts.map((part) => (part === undefined ? '-' : part.toString('base64'))).join('|');
}
