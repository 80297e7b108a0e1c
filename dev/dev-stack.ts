// `npm run dev`: everything KPC needs on one machine, for trying it by hand. Starts nats-server,
// the dev ECAP provider (dev/credentials.yml; it answers 22/CAP too), one extension per extension
// instance in dev/service-config.yml (a stand-in for Kaa's own under Kaa's standard names dcx, epmx,
// cex, cmx, cmx_ota, epr; an echo extension otherwise), then KPC itself (dist/main.js), and prints
// a command that talks to it. It logs every endpoint traffic report KPC publishes.
// `npm run dev -- --cap` (or KPC_DEV_CLIENT_PROTOCOL=cap) runs KPC with
// `kaa.kpc.authentication.client-protocol: cap`.
// Ctrl-C stops them in reverse order. However the dev stack ends, nothing it started outlives it:
// nats-server and KPC run tethered (tether.ts: they stop when the dev stack's end closes their
// stdin pipe, SIGKILL included), and the dev stack stops itself when its parent (npm) is gone
// (parent-watch.ts). KPC's JSON log lines are shown pretty-printed. DEVELOPMENT ONLY.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { DevEcapProvider, parseDevCredentials, type DevCredentials } from './ecap-provider.js';
import { EchoExtension } from './echo-extension.js';
import { KaaExtensionStandIn } from './kaa-extensions.js';
import { logTrafficReports } from './traffic-report-log.js';
import { findNatsServer, startNatsServer, type NatsServerHandle } from './nats-server-process.js';
import { getFreePort, isPortFree } from './ports.js';
import { waitForHealthy } from './health.js';
import { findExecutable } from './executables.js';
import { spawnTethered, terminate } from './child-cleanup.js';
import { prettyPrintLogs } from './pretty-logs.js';
import { watchParent } from './parent-watch.js';
import { consoleDevLogger, type DevLogger } from './dev-logger.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const configPath = join(repoRoot, 'dev/service-config.yml');
const credentialsPath = join(repoRoot, 'dev/credentials.yml');
const preferredNatsPort = 4222;
const healthTimeoutMs = 20_000;
/** Longer than KPC's default graceful shutdown (30 s), so it can finish draining. */
const kpcStopTimeoutMs = 35_000;

/** Everything to stdout with the `[dev]` prefix, per-message detail included (someone is watching). */
const log: Required<DevLogger> = { ...consoleDevLogger, warn: consoleDevLogger.info, debug: consoleDevLogger.info };

/** The few facts the dev stack needs from the KPC config it starts the service with. */
interface DevServiceConfig {
  mqttPort: number;
  httpPort: number;
  /** 1/KP over HTTP, when the config enables it. */
  kpHttpPort: number | null;
  kpcInstanceName: string;
  cmInstanceName: string;
  ccmInstanceName: string;
  appVersionName: string;
  extensions: Array<{ name: string; endpointAware: boolean }>;
}

function readServiceConfig(): DevServiceConfig {
  const config = parseYaml(readFileSync(configPath, 'utf8'));
  const kaa = config?.kaa ?? {};
  const applications = Object.values(kaa.applications ?? {}) as Array<{ versions?: Record<string, unknown> }>;
  const appVersionName = applications.flatMap((app) => Object.keys(app.versions ?? {}))[0];
  if (!appVersionName) throw new Error(`${configPath}: kaa.applications names no application version`);
  const extensionInstances = (kaa['extension-instances'] ?? {}) as Record<string, { 'endpoint-aware'?: boolean }>;
  // KPC reads these env overrides itself (the dev stack passes its environment on); the dev stack
  // must check and print the same ports.
  const fromEnv = (name: string): number | undefined => (process.env[name]?.trim() ? Number(process.env[name]) : undefined);
  return {
    mqttPort: fromEnv('KAA_KPC_TRANSPORTS_MQTT_TCP_PORT') ?? kaa.kpc?.transports?.mqtt?.tcp?.port ?? 1883,
    httpPort: fromEnv('SERVER_PORT') ?? config?.server?.port ?? 8008,
    kpHttpPort: kaa.kpc?.transports?.http?.enabled === true
      ? (fromEnv('KAA_KPC_TRANSPORTS_HTTP_PORT') ?? kaa.kpc.transports.http.port ?? 8081)
      : null,
    kpcInstanceName: config?.service?.instance?.name ?? 'kpc',
    cmInstanceName: kaa.kpc?.authentication?.['service-instance-name'] ?? 'cm',
    ccmInstanceName: kaa.kpc?.authentication?.['client-service-instance-name'] ?? 'ccm',
    appVersionName,
    extensions: Object.entries(extensionInstances).map(([name, options]) => ({ name, endpointAware: options?.['endpoint-aware'] ?? false })),
  };
}

/** Stops whatever has been started, newest first. Every step runs even if an earlier one fails. */
class Teardown {
  private readonly steps: Array<{ name: string; run: () => Promise<unknown> }> = [];
  add(name: string, run: () => Promise<unknown>): void {
    this.steps.unshift({ name, run });
  }
  async run(): Promise<void> {
    for (const step of this.steps.splice(0)) {
      log.info(`stopping ${step.name}`);
      try {
        await step.run();
      } catch (error) {
        log.warn(`stopping ${step.name} failed: ${(error as Error).message}`);
      }
    }
  }
}

function fail(message: string): never {
  console.error(`[dev] ${message}`);
  process.exit(1);
}

async function main(): Promise<void> {
  if (!findNatsServer()) {
    fail('nats-server is not installed (looked on PATH and in /usr/sbin). Install it with:\n\n    sudo apt-get install nats-server\n');
  }
  if (!existsSync(join(repoRoot, 'dist/main.js'))) fail('dist/main.js is missing: run `npm run build` first (`npm run dev` does).');
  const config = readServiceConfig();
  for (const [what, port] of [['MQTT', config.mqttPort], ['management HTTP', config.httpPort]] as const) {
    if (!(await isPortFree(port, '0.0.0.0'))) fail(`port ${port} (KPC ${what}, from dev/service-config.yml) is already in use; stop whatever listens there.`);
  }
  const credentials = parseDevCredentials(readFileSync(credentialsPath, 'utf8'));

  const teardown = new Teardown();
  let stopping = false;
  const shutdown = async (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    await teardown.run();
    log.info('dev stack stopped');
    process.exit(exitCode);
  };
  let firstSignalAt = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) {
        // Under `npm run dev` one Ctrl-C can arrive twice (terminal and npm); only a later one forces.
        if (Date.now() - firstSignalAt < 1_000) return;
        log.warn(`${signal} again: killing everything now`);
        process.exit(1); // the exit hook SIGKILLs the children
      }
      firstSignalAt = Date.now();
      log.info(`${signal} received, shutting down (again to force)`);
      void shutdown(0);
    });
  }

  watchParent(() => {
    log.warn('the process that started the dev stack has exited; shutting down');
    void shutdown(1);
  });

  try {
    const nats = await startDevNats();
    teardown.add('nats-server', () => nats.stop());

    const provider = new DevEcapProvider({
      natsUrls: nats.url, serviceInstanceName: config.cmInstanceName, capServiceInstanceName: config.ccmInstanceName, credentials, logger: log,
    });
    await provider.start();
    teardown.add('dev ECAP provider', () => provider.stop());

    for (const { name } of config.extensions) {
      const extension = new EchoExtension({ natsUrls: nats.url, instanceName: name, kpcInstanceName: config.kpcInstanceName, logger: log });
      if (KaaExtensionStandIn.isKaaInstance(name)) new KaaExtensionStandIn(name, extension);
      await extension.start();
      teardown.add(`extension ${name}`, () => extension.stop());
    }
    const reports = await logTrafficReports(nats.url, config.kpcInstanceName, log);
    teardown.add('traffic report log', () => reports.stop());

    const kpc = startKpc(nats.url, clientProtocol);
    teardown.add('KPC', () => terminate(kpc, 'SIGTERM', kpcStopTimeoutMs));
    kpc.once('exit', (code, signal) => {
      if (stopping) return;
      log.warn(`KPC exited unexpectedly (${code ?? signal}); stopping the dev stack`);
      void shutdown(1);
    });

    const healthUrl = `http://127.0.0.1:${config.httpPort}/health`;
    await waitForHealthy(healthUrl, {
      timeoutMs: healthTimeoutMs,
      intervalMs: 100,
      failure: () => (kpc.exitCode !== null || kpc.signalCode !== null ? 'KPC exited before it became healthy (see its output above)' : undefined),
    });
    printWelcome(config, credentials, nats.url, healthUrl);
  } catch (error) {
    if (stopping) return;
    log.warn(`dev stack failed to start: ${(error as Error).message}`);
    await shutdown(1);
  }
}

async function startDevNats(): Promise<NatsServerHandle> {
  // DEV_NATS_PORT: a fixed port (scripts, tests); else 4222 when free, else any free port.
  const requested = process.env.DEV_NATS_PORT?.trim() ? Number(process.env.DEV_NATS_PORT) : undefined;
  let port = requested ?? preferredNatsPort;
  if (requested === undefined && !(await isPortFree(port))) {
    port = await getFreePort();
    log.info(`port ${preferredNatsPort} is busy; starting nats-server on ${port} instead`);
  }
  // Own process group: Ctrl-C must reach only this process, which stops KPC before NATS.
  const nats = await startNatsServer({ port, detached: true, tethered: true });
  log.info(`nats-server listening on ${nats.url}`);
  return nats;
}

/** `--cap` or KPC_DEV_CLIENT_PROTOCOL=cap: CONNECT credentials over 22/CAP instead of 16/ECAP. */
const clientProtocol: 'ecap' | 'cap' = process.argv.includes('--cap') || process.env.KPC_DEV_CLIENT_PROTOCOL === 'cap' ? 'cap' : 'ecap';

function startKpc(natsUrl: string, protocol: 'ecap' | 'cap'): ChildProcess {
  log.info(`starting KPC: node dist/main.js --config dev/service-config.yml (NATS_URLS=${natsUrl}, client-protocol ${protocol})`);
  // Tethered: if this process dies without stopping it (SIGKILL, a crash), KPC gets SIGTERM, and
  // SIGKILL past the grace time. Own process group, so that Ctrl-C does not signal KPC twice
  // (terminal + our SIGTERM).
  const child = spawnTethered(process.execPath, ['dist/main.js', '--config', 'dev/service-config.yml'], {
    graceMs: 10_000,
    detached: true,
    cwd: repoRoot,
    env: { ...process.env, NATS_URLS: natsUrl, KAA_KPC_AUTHENTICATION_CLIENT_PROTOCOL: protocol },
  });
  prettyPrintLogs(child.stdout!, process.stdout, 'kpc');
  prettyPrintLogs(child.stderr!, process.stderr, 'kpc');
  return child;
}

/** Shell-quotes for a POSIX shell. */
function q(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function printWelcome(config: DevServiceConfig, credentials: DevCredentials, natsUrl: string, healthUrl: string): void {
  const [username, user] = Object.entries(credentials.users)[0] ?? ['USER', { password: 'PASSWORD' }];
  const [token, tokenEntry] = Object.entries(credentials.tokens).find(([, entry]) => !entry.blocked) ?? ['TOKEN', { endpointId: '?' }];
  const aware = config.extensions.find((extension) => extension.endpointAware)?.name ?? 'echo';
  // 1/KP: kp1/<appVersionName>/<extension>/<token>/<resourcePath>/<requestId>. The reply comes on
  // <topic>/status, or <topic>/error (only when the topic has a request id), and only to the
  // connection that published the request.
  const topic = `kp1/${config.appVersionName}/${aware}/${token}/hello/1`;
  const payload = '{"hello":"world"}';
  const mqttArgs = `-h 127.0.0.1 -p ${config.mqttPort} -u ${q(username)} -P ${q(user.password)}`;
  const nodeScript =
    `const c=require("mqtt").connect("mqtt://127.0.0.1:${config.mqttPort}",{protocolVersion:4,username:${JSON.stringify(username)},password:${JSON.stringify(user.password)}});` +
    `const t=${JSON.stringify(topic)};` +
    `c.on("connect",()=>c.subscribe(t+"/#",()=>c.publish(t,${JSON.stringify(payload)})));` +
    `c.on("message",(topic,p)=>{console.log(topic,p.toString());c.end()});c.on("error",(e)=>{console.error(e.message);c.end()});` +
    `setTimeout(()=>{console.error("no reply within 5 s");process.exit(1)},5000).unref()`;

  const lines = [
    '',
    '[dev] ──────────────────────────────────────────────────────────────────────────────',
    '[dev] KPC dev stack is ready',
    `[dev]   MQTT        mqtt://127.0.0.1:${config.mqttPort}  (MQTT 3.1.1 and 3.1; MQTT 5 is refused)`,
    `[dev]   client auth ${clientProtocol === 'cap' ? '22/CAP (ccm): username or username@tenant' : '16/ECAP (cm); `npm run dev -- --cap` for 22/CAP'}`,
    `[dev]   health      ${healthUrl}`,
    `[dev]   NATS        ${natsUrl}`,
    `[dev]   app version ${config.appVersionName}`,
    `[dev]   extensions  ${config.extensions.map((e) => `${e.name}${e.endpointAware ? ' (endpoint-aware)' : ''}`).join(', ')}`,
    `[dev]   users       ${Object.entries(credentials.users).map(([name, u]) => `${name}/${u.password}${clientProtocol === 'cap' ? ` (tenant ${u.tenantId ?? 'default'})` : ''}`).join(', ')}   (dev/credentials.yml)`,
    `[dev]   tokens      ${Object.entries(credentials.tokens).map(([t, e]) => `${t} -> ${e.endpointId}`).join(', ')}`,
    '[dev]',
    `[dev] Send a request to the "${aware}" extension and print its reply. KPC delivers a reply only to`,
    '[dev] the connection that sent the request, so the same client must subscribe and publish: a',
    '[dev] mosquitto_sub in another terminal would see nothing. mosquitto_rr does both (MQTT 3.1.1):',
    '',
    `  mosquitto_rr ${mqttArgs} -V mqttv311 -t ${q(topic)} -e ${q(`${topic}/status`)} -m ${q(payload)} -v -W 5`,
    '',
    `[dev] Expected: ${topic}/status ${payload}  (endpoint ${tokenEntry.endpointId})`,
    '[dev] Errors (unknown token, unknown extension...) come on <topic>/error instead: mosquitto_rr takes',
    '[dev] one exact response topic, so give it `-e <topic>/error` to see them; the command below shows both.',
    findExecutable('mosquitto_rr')
      ? '[dev] The same with Node and mqtt.js, run from the repository directory:'
      : '[dev] mosquitto_rr is not installed (sudo apt-get install mosquitto-clients); with Node and mqtt.js, from the repository directory:',
    '',
    `  node -e ${q(nodeScript)}`,
    '',
    ...curlLines(config, token, payload),
    `[dev] Kaa's standard extension instances (dcx, epmx, cex, cmx, cmx_ota, epr) answer in the shape Kaa's do, e.g.`,
    `[dev]   kp1/${config.appVersionName}/epmx/${token}/get/1  ->  {}      kp1/${config.appVersionName}/cmx/${token}/config/json/2  ->  {"configId":…,"config":{}}`,
    `[dev] Endpoint traffic reports are printed here as KPC publishes them (every 10 s with traffic).`,
    '[dev] Ctrl-C stops everything.',
    '[dev] ──────────────────────────────────────────────────────────────────────────────',
    '',
  ];
  console.log(lines.join('\n'));
}

/** The same request over 1/KP over HTTP, with curl: the reply is the HTTP response. */
function curlLines(config: DevServiceConfig, token: string, payload: string): string[] {
  if (config.kpHttpPort === null) return [];
  const aware = config.extensions.find((extension) => extension.endpointAware)?.name ?? 'echo';
  const url = `http://127.0.0.1:${config.kpHttpPort}/kp1/${config.appVersionName}/${aware}/${token}/hello`;
  return [
    '[dev] Or over HTTP (1/KP over HTTP: POST, the reply is the response; no request ID needed):',
    '',
    `  curl -i -X POST --data-binary ${q(payload)} -H 'Content-Type: application/json' ${url}`,
    '',
  ];
}

void main();
