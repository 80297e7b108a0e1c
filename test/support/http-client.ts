// A plain node:http client for 1/KP over HTTP tests: POSTs over a keep-alive Agent (so many
// requests share few connections) and raw sockets for what no well-behaved client sends.
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

export function post(url: string, body: string | Buffer, opts: { agent?: Agent; headers?: Record<string, string>; method?: string } = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'POST', agent: opts.agent, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A raw TCP connection; `closed` resolves when the server closes it, with everything it sent. */
export function rawConnection(url: string): Promise<{ socket: Socket; closed: Promise<string> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve({ socket, closed }));
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => {}); // a reset is one way for the server to close: `closed` resolves either way
    const closed = new Promise<string>((resolveClosed) => socket.once('close', () => resolveClosed(received)));
    socket.once('error', reject);
  });
}
