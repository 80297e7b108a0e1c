// DEVELOPMENT ONLY. Prints a line for every endpoint traffic report (9/ELCE) KPC publishes, so the
// dev stack shows what a Kaa 1.4 cluster's usage statistics would receive.
import { codecs } from '../src/infra/nats/codecs.js';
import { subjects } from '../src/infra/nats/subjects.js';
import { warn, type DevLogger } from './dev-logger.js';
import { connectToNats } from './nats-connection.js';

export async function logTrafficReports(natsUrls: string | string[], kpcInstanceName: string, logger: DevLogger): Promise<{ stop(): Promise<void> }> {
  const connection = await connectToNats(natsUrls, 'dev traffic report log');
  const subject = subjects.trafficReport(kpcInstanceName);
  connection.subscribe(subject, {
    callback: (error, msg) => {
      if (error) return warn(logger, `${subject}: ${error.message}`);
      try {
        const report = codecs.trafficReport.decode(msg.data);
        const seconds = Number(report.timeTo - report.timeFrom) / 1e9;
        for (const [tenant, apps] of Object.entries(report.tenantTrafficStats)) {
          for (const [app, endpoints] of Object.entries(apps)) {
            for (const [endpoint, stat] of Object.entries(endpoints)) {
              logger.info(
                `traffic report (${seconds.toFixed(1)} s) tenant ${tenant}, app ${app}, endpoint ${endpoint}: ` +
                  `received ${stat.totalReceivedMessageCount} msg / ${stat.totalReceivedPayload} B, sent ${stat.totalSentMessageCount} msg / ${stat.totalSentPayload} B`,
              );
            }
          }
        }
      } catch (decodeError) {
        warn(logger, `undecodable traffic report on ${msg.subject}: ${(decodeError as Error).message}`);
      }
    },
  });
  await connection.flush();
  return { stop: () => connection.drain() };
}
