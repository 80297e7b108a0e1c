// Reads KPC's Prometheus text over ONE kept-alive HTTP connection, polled every second: a KPC that
// has used up its file descriptors on MQTT clients can no longer accept a new connection for
// /metrics, but still answers on one it already holds.
import { Agent, request } from 'node:http';

export class MetricsReader {
  constructor(url) {
    this.url = new URL(url);
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
    this.last = null; // { at, values: Map }
    this.lastError = null;
    this.timer = null;
  }

  /** Scrapes now and then every `intervalMs` (the server drops idle keep-alive sockets after 5 s). */
  async start(intervalMs = 1_000) {
    await this.scrape();
    this.timer = setInterval(() => void this.scrape(), intervalMs);
    this.timer.unref();
    return this;
  }

  stop() {
    clearInterval(this.timer);
    this.agent.destroy();
  }

  /** The value of an unlabelled sample from a scrape made now (else the last good one). */
  async value(name) {
    await this.scrape();
    return this.last?.values.get(name) ?? null;
  }

  scrape() {
    return new Promise((resolve) => {
      const req = request(this.url, { agent: this.agent, timeout: 5_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          this.last = { at: Date.now(), values: parseUnlabelled(text) };
          this.lastError = null;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => {
        this.lastError = error.message;
        resolve();
      });
      req.end();
    });
  }
}

function parseUnlabelled(text) {
  const values = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.includes('{')) continue;
    const space = line.indexOf(' ');
    if (space > 0) values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}
