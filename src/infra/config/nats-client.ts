// How KPC authenticates to NATS and secures the connection: credentials in NATS_URLS
// (`nats://user:password@host`, `nats://token@host`) or the `kaa.kpc.nats.*` keys, and TLS files.
// The URLs handed on carry no credentials: the NATS client takes them as connect options, and a URL
// without them can be printed anywhere.
import type { NatsClientConfig, NatsAuth } from './types.js';
import { ConfigError, quote, URL_USER_INFO as USER_INFO } from './values.js';

/** The credentials a NATS URL carries, percent-decoded, if any. */
function credentialsIn(url: string): NatsAuth | undefined {
  const userInfo = USER_INFO.exec(url)?.[1];
  if (userInfo === undefined || userInfo === '') return undefined;
  const colon = userInfo.indexOf(':');
  if (colon < 0) return { kind: 'token', token: decodeURIComponent(userInfo) };
  return { kind: 'user', user: decodeURIComponent(userInfo.slice(0, colon)), password: decodeURIComponent(userInfo.slice(colon + 1)) };
}

export interface NatsKeyValues {
  urls: string[];
  token?: string;
  user?: string;
  password?: string;
  nkeySeedFile?: string;
  credsFile?: string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

const NATS = 'kaa.kpc.nats';

export function parseNatsClient(v: NatsKeyValues): NatsClientConfig {
  const fromUrls = v.urls.map(credentialsIn);
  const urlAuth = fromUrls.find((auth) => auth !== undefined);
  if (urlAuth !== undefined && fromUrls.some((auth) => JSON.stringify(auth) !== JSON.stringify(urlAuth))) {
    throw new ConfigError(`'NATS_URLS' must give the same credentials in every URL, or none (the NATS client uses one set for all servers)`);
  }
  if ((v.user === undefined) !== (v.password === undefined)) {
    throw new ConfigError(`${quote(`${NATS}.user`)} and ${quote(`${NATS}.password`)} go together: set both or neither`);
  }
  const keyAuths: Array<[string, NatsAuth]> = [];
  if (v.token !== undefined) keyAuths.push([`${NATS}.token`, { kind: 'token', token: v.token }]);
  if (v.user !== undefined) keyAuths.push([`${NATS}.user`, { kind: 'user', user: v.user, password: v.password! }]);
  if (v.nkeySeedFile !== undefined) keyAuths.push([`${NATS}.nkey-seed-file`, { kind: 'nkey', seedFile: v.nkeySeedFile }]);
  if (v.credsFile !== undefined) keyAuths.push([`${NATS}.creds-file`, { kind: 'creds', credsFile: v.credsFile }]);
  const sources = [...(urlAuth === undefined ? [] : ['credentials in NATS_URLS']), ...keyAuths.map(([key]) => quote(key))];
  if (sources.length > 1) throw new ConfigError(`NATS credentials come from one place only, got ${sources.join(' and ')}`);
  if ((v.tlsCertFile === undefined) !== (v.tlsKeyFile === undefined)) {
    throw new ConfigError(`${quote(`${NATS}.tls.cert-file`)} and ${quote(`${NATS}.tls.key-file`)} go together: set both or neither`);
  }
  return {
    urls: v.urls.map((url) => url.replace(USER_INFO, '//')),
    auth: urlAuth ?? keyAuths[0]?.[1] ?? { kind: 'none' },
    tls: { caFile: v.tlsCaFile, certFile: v.tlsCertFile, keyFile: v.tlsKeyFile },
  };
}
