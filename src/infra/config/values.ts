// Value validators shared by YAML values and environment overrides. Each takes the raw value (a
// YAML scalar, or an env string) and `where` — how to name the key in an error, already quoted,
// e.g. `'server.port'` or `'server.port' (from env SERVER_PORT)` — and returns the typed value.
import { availableParallelism } from 'node:os';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(detail: string) {
    super(`Invalid configuration: ${detail}`);
  }
}

/** The `user:password@` or `token@` part of a URL (group 1: without the `@`). */
export const URL_USER_INFO = /\/\/([^/@]*)@/;

/** A URL with any `user:password@` or `token@` replaced by `***@` (NATS URLs may carry credentials). */
export const redactUrl = (url: string): string => url.replace(URL_USER_INFO, '//***@');

export type Parser<T> = (raw: unknown, where: string) => T;

export const quote = (path: string): string => `'${path}'`;

/** What kind of thing a value is, for errors that must not echo it (strings may be secrets). */
export function kindOf(raw: unknown): string {
  if (raw === null || raw === undefined) return 'nothing';
  if (Array.isArray(raw)) return 'a list';
  if (typeof raw === 'object') return 'a mapping';
  return typeof raw === 'number' ? 'a number' : typeof raw === 'boolean' ? 'a boolean' : `a ${typeof raw}`;
}

/** A rejected value as shown in an error: scalars verbatim (shortened), structures by kind. */
export function show(raw: unknown): string {
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') return kindOf(raw);
  const text = JSON.stringify(raw);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function fail(where: string, expectation: string, got: string): ConfigError {
  return new ConfigError(`${where} must be ${expectation}, got ${got}`);
}

export const bool: Parser<boolean> = (raw, where) => {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw fail(where, 'true or false', show(raw));
};

export function integer(min: number, max: number, expectation = `an integer ${min}-${max}`): Parser<number> {
  return (raw, where) => {
    // Digit strings come from env variables (and quoted YAML); signs and decimals are not integers here.
    const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= min && n <= max) return n;
    throw fail(where, expectation, show(raw));
  };
}

/** `kaa.kpc.workers`: a positive integer, or `auto` for one worker per core the process may use. */
export const workerCount: Parser<number> = (raw, where) =>
  raw === 'auto' ? availableParallelism() : integer(1, 1024, 'a whole number of workers 1-1024, or auto (one per core)')(raw, where);

export const port = integer(0, 65535, 'an integer 1-65535 (or 0 for any free port)');
export const count = integer(1, Number.MAX_SAFE_INTEGER, 'a positive integer');

export const text: Parser<string> = (raw, where) => {
  if (typeof raw === 'string' && raw.trim() !== '') return raw;
  throw fail(where, 'a non-empty string', typeof raw === 'string' ? 'an empty string' : kindOf(raw));
};

/** Instance and replica names end up as NATS subject tokens, where these characters break routing. */
export const subjectToken: Parser<string> = (raw, where) => {
  const value = text(raw, where);
  if (/[.*>\s]/.test(value)) throw fail(where, 'a name without ".", "*", ">" or whitespace', show(value));
  return value;
};

/**
 * Application, application version and extension instance names appear in MQTT topics (no + # /)
 * and in NATS subjects (no . * > or whitespace).
 */
export const routingName: Parser<string> = (raw, where) => {
  if (typeof raw === 'string' && raw !== '' && !/[+#/.*>\s]/.test(raw)) return raw;
  throw fail(where, 'a non-empty name without + # / . * > or whitespace', show(raw));
};

export function oneOf<const V extends string>(values: readonly V[]): Parser<V> {
  return (raw, where) => {
    if (values.includes(raw as V)) return raw as V;
    throw fail(where, `one of ${values.join(', ')}`, show(raw));
  };
}

export const urlPath: Parser<string> = (raw, where) => {
  const value = text(raw, where);
  if (!value.startsWith('/') || /\s/.test(value)) throw fail(where, 'a path starting with "/"', show(value));
  return value;
};

/** A URL path prefix: empty, or starting with "/" and not ending with one (`/api` + `/kp1/…`). */
export const pathPrefix: Parser<string> = (raw, where) => {
  if (raw === '' || raw === null) return '';
  const value = urlPath(raw, where);
  if (value.endsWith('/') || value.includes('//')) throw fail(where, 'empty, or a path starting with "/" and not ending with "/"', show(value));
  return value;
};

export const httpUrl: Parser<string> = (raw, where) => {
  const value = text(raw, where);
  if (!/^https?:\/\//.test(value) || !URL.canParse(value)) throw fail(where, 'an http:// or https:// URL', show(value));
  return value;
};

export const natsUrls: Parser<string[]> = (raw, where) => {
  const expectation = 'a comma-separated list of nats:// or tls:// URLs';
  const urls = typeof raw === 'string' ? raw.split(',').map((u) => u.trim()).filter((u) => u !== '') : [];
  if (urls.length === 0) throw fail(where, expectation, typeof raw === 'string' ? show(raw) : kindOf(raw));
  const bad = urls.find((u) => !/^(nats|tls):\/\/\S+$/.test(u));
  if (bad !== undefined) throw fail(where, expectation, show(redactUrl(bad)));
  return urls;
};

// Node's timers fire after 1 ms when given more than 2^31-1 ms, so a longer duration is a mistake.
const MAX_TIMER_MS = 2_147_483_647;
const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;
type DurationUnit = keyof typeof DURATION_UNIT_MS;

/**
 * A duration in milliseconds from `500ms`, `10s`, `1m` or a bare number. A bare number is
 * milliseconds (Spring Boot's convention) unless the key documents otherwise (graceful-shutdown: s).
 */
export function duration(bareUnit: DurationUnit): Parser<number> {
  const bareMeaning = bareUnit === 'ms' ? 'milliseconds' : bareUnit === 's' ? 'seconds' : 'minutes';
  const expectation = `a duration such as 500ms, 10s or 1m (a bare number means ${bareMeaning}), at most ${MAX_TIMER_MS}ms`;
  return (raw, where) => {
    let amount: number | undefined;
    let unit: DurationUnit = bareUnit;
    if (typeof raw === 'number') amount = raw;
    else if (typeof raw === 'string') {
      const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(raw.trim());
      if (match) {
        amount = Number(match[1]);
        unit = (match[2] as DurationUnit | undefined) ?? bareUnit;
      }
    }
    const ms = amount === undefined ? NaN : Math.round(amount * DURATION_UNIT_MS[unit]);
    if (amount !== undefined && amount >= 0 && Number.isFinite(ms) && ms <= MAX_TIMER_MS) return ms;
    throw fail(where, expectation, show(raw));
  };
}

// Decimal units are powers of 1000, binary (…iB) powers of 1024: 1MB is 1 000 000 bytes, 1MiB 1 048 576.
const SIZE_UNIT_BYTES = { B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 } as const;

/** A byte count from an integer or a string such as `1024`, `512KiB`, `1MiB`, `1MB`. */
export function size(max: number, maxText: string): Parser<number> {
  const expectation = `a size in bytes such as 1024, 512KiB, 1MiB or 1MB, between 1 byte and ${maxText}`;
  return (raw, where) => {
    let bytes = NaN;
    if (typeof raw === 'number') bytes = raw;
    else if (typeof raw === 'string') {
      const match = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/.exec(raw.trim());
      if (match) bytes = Math.floor(Number(match[1]) * SIZE_UNIT_BYTES[(match[2] ?? 'B') as keyof typeof SIZE_UNIT_BYTES]);
    }
    if (Number.isSafeInteger(bytes) && bytes >= 1 && bytes <= max) return bytes;
    throw fail(where, expectation, show(raw));
  };
}
