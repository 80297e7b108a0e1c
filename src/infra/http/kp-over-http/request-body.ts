// Reads a request body up to a limit, while it streams: a body announced (Content-Length) or found
// to be larger is not read any further, so no request makes KPC buffer more than the limit.
import type { IncomingMessage } from 'node:http';

export type BodyOutcome = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' | 'aborted' };

export function readBoundedBody(incoming: IncomingMessage, maxBytes: number): Promise<BodyOutcome> {
  const announced = Number(incoming.headers['content-length']);
  if (Number.isFinite(announced) && announced > maxBytes) {
    incoming.pause();
    return Promise.resolve({ ok: false, reason: 'too-large' });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = (outcome: BodyOutcome) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onAbort);
      incoming.off('aborted', onAbort);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        incoming.pause();
        return stop({ ok: false, reason: 'too-large' });
      }
      chunks.push(chunk);
    };
    const onEnd = () => stop({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length) });
    const onAbort = () => stop({ ok: false, reason: 'aborted' });
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', onAbort);
    incoming.once('aborted', onAbort);
  });
}
