// The NATS client's connect options from the configuration: credentials as options (the client
// refuses them embedded in a URL) and TLS material read from the configured files. Reading the
// files here, at start, turns a wrong path into a ConfigError naming the key.
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from 'nats';
import { readConfiguredFile } from '../config/configured-files.js';
import type { NatsClientConfig } from '../config/types.js';

const NATS = 'kaa.kpc.nats';

export function natsConnectOptions(config: NatsClientConfig): ConnectionOptions {
  const { auth, tls } = config;
  const options: ConnectionOptions = { servers: config.urls };
  if (auth.kind === 'token') options.token = auth.token;
  else if (auth.kind === 'user') Object.assign(options, { user: auth.user, pass: auth.password });
  else if (auth.kind === 'nkey') options.authenticator = nkeyAuthenticator(new TextEncoder().encode(readConfiguredFile(`${NATS}.nkey-seed-file`, auth.seedFile).toString('utf8').trim()));
  else if (auth.kind === 'creds') options.authenticator = credsAuthenticator(readConfiguredFile(`${NATS}.creds-file`, auth.credsFile));

  if (tls.caFile !== undefined || tls.certFile !== undefined) {
    options.tls = {
      ca: tls.caFile === undefined ? undefined : readConfiguredFile(`${NATS}.tls.ca-file`, tls.caFile).toString('utf8'),
      cert: tls.certFile === undefined ? undefined : readConfiguredFile(`${NATS}.tls.cert-file`, tls.certFile).toString('utf8'),
      key: tls.keyFile === undefined ? undefined : readConfiguredFile(`${NATS}.tls.key-file`, tls.keyFile).toString('utf8'),
    };
  }
  return options;
}
