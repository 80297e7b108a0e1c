// The dev ECAP provider's credential table (DEVELOPMENT ONLY) and the reader of its YAML file,
// dev/credentials.yml, which documents the format.
import { parse as parseYaml } from 'yaml';

export interface DevCredentials {
  /** Defaults: clientId `client-${username}`, credentialId `cred-${username}`, tenantId (22/CAP) `default`. */
  users: Record<string, { password: string; clientId?: string; credentialId?: string; tenantId?: string }>;
  /** tokenId defaults to `tokid-${token}`; a blocked token is answered 403. */
  tokens: Record<string, { endpointId: string; tokenId?: string; blocked?: boolean }>;
  /** Keyed by `${issuer}|${serialNumber}`. Defaults as for users, with the key as the name. */
  certificates?: Record<string, { clientId?: string; credentialId?: string; tenantId?: string }>;
}

/**
 * Reads the dev credentials file (format: dev/credentials.yml). Throws a message naming the
 * offending key, so a typo in the file is easy to find.
 */
export function parseDevCredentials(yamlText: string): DevCredentials {
  const root = (parseYaml(yamlText) ?? {}) as unknown;
  if (!isRecord(root)) throw new Error('credentials: the file must be a mapping with `users` and `tokens`');
  const section = (name: string): Record<string, Record<string, unknown>> => {
    const value = root[name] ?? {};
    if (!isRecord(value)) throw new Error(`credentials: \`${name}\` must be a mapping`);
    for (const [key, entry] of Object.entries(value)) {
      if (!isRecord(entry)) throw new Error(`credentials: ${name}.${key} must be a mapping`);
    }
    return value as Record<string, Record<string, unknown>>;
  };
  const credentials: DevCredentials = { users: {}, tokens: {}, certificates: {} };
  for (const [name, entry] of Object.entries(section('users'))) {
    credentials.users[name] = {
      password: requiredString(entry, 'password', `users.${name}`),
      ...optionalStrings(entry, ['clientId', 'credentialId', 'tenantId'], `users.${name}`),
    };
  }
  for (const [token, entry] of Object.entries(section('tokens'))) {
    const blocked = entry.blocked ?? false;
    if (typeof blocked !== 'boolean') throw new Error(`credentials: tokens.${token}.blocked must be true or false`);
    credentials.tokens[token] = {
      endpointId: requiredString(entry, 'endpointId', `tokens.${token}`),
      ...optionalStrings(entry, ['tokenId'], `tokens.${token}`),
      ...(blocked ? { blocked } : {}),
    };
  }
  for (const [key, entry] of Object.entries(section('certificates'))) {
    credentials.certificates![key] = optionalStrings(entry, ['clientId', 'credentialId', 'tenantId'], `certificates.${key}`);
  }
  return credentials;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requiredString(entry: Record<string, unknown>, key: string, path: string): string {
  const value = entry[key];
  // YAML reads 1234 as a number (and 0123 as 123), so numbers are refused rather than converted.
  if (typeof value !== 'string') throw new Error(`credentials: ${path}.${key} must be a string (quote numbers)`);
  return value;
}

function optionalStrings(entry: Record<string, unknown>, keys: string[], path: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const key of keys) if (entry[key] !== undefined) result[key] = requiredString(entry, key, path);
  return result;
}
