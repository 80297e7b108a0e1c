// Questions the primary asks its workers over node:cluster's IPC channel (health, metrics,
// session inspection, "announce a dead sibling's endpoints") and the workers' answers. Messages
// carry a `kpcRequest` / `kpcReply` key so they never mix with other users of the channel
// (prom-client's cluster messages use `type`).
import type { Worker } from 'node:cluster';

interface WorkerRequest {
  kpcRequest: number;
  kind: string;
  args: unknown[];
}

interface WorkerReply {
  kpcReply: number;
  result?: unknown;
  error?: string;
}

/** Sent once by a worker when it starts answering: asking earlier would go unanswered. */
interface WorkerAnswering {
  kpcAnswering: true;
}

const isRequest = (message: unknown): message is WorkerRequest =>
  typeof message === 'object' && message !== null && typeof (message as WorkerRequest).kpcRequest === 'number';
const isReply = (message: unknown): message is WorkerReply =>
  typeof message === 'object' && message !== null && typeof (message as WorkerReply).kpcReply === 'number';

interface Pending {
  worker: Worker;
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** The primary's side: one asker for every worker, so request ids are unique across them. */
export class WorkerAsker {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly answering = new WeakSet<Worker>();

  /** Starts listening to a (new) worker's replies; requests to it fail at once when it exits. */
  attach(worker: Worker): void {
    worker.on('message', (message: unknown) => {
      if ((message as Partial<WorkerAnswering> | null)?.kpcAnswering === true) this.answering.add(worker);
      if (!isReply(message)) return;
      const pending = this.pending.get(message.kpcReply);
      // A reply after its deadline is dropped: the caller has already been told the worker is slow.
      if (pending === undefined) return;
      this.settle(message.kpcReply);
      if (message.error !== undefined) pending.reject(new Error(message.error));
      else pending.resolve(message.result);
    });
    worker.once('exit', () => {
      for (const [id, pending] of this.pending) {
        if (pending.worker !== worker) continue;
        this.settle(id);
        pending.reject(new Error('the worker exited'));
      }
    });
  }

  ask<T>(worker: Worker, kind: string, args: unknown[], timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!worker.isConnected()) return reject(new Error('the worker is not connected'));
      if (!this.answering.has(worker)) return reject(new Error('the worker is starting'));
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.settle(id);
        reject(new Error(`no answer to '${kind}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { worker, resolve: resolve as (result: unknown) => void, reject, timer });
      worker.send({ kpcRequest: id, kind, args } satisfies WorkerRequest);
    });
  }

  private settle(id: number): void {
    clearTimeout(this.pending.get(id)?.timer);
    this.pending.delete(id);
  }
}

export type WorkerHandlers = Record<string, (...args: never[]) => unknown>;

/** The worker's side: answers each request with its handler's (awaited) result or error message. */
export function answerPrimary(handlers: WorkerHandlers): void {
  process.on('message', (message: unknown) => {
    if (!isRequest(message)) return;
    const reply = (answer: Omit<WorkerReply, 'kpcReply'>) => {
      if (process.connected) process.send!({ kpcReply: message.kpcRequest, ...answer } satisfies WorkerReply);
    };
    const handler = handlers[message.kind] as ((...args: unknown[]) => unknown) | undefined;
    if (handler === undefined) return reply({ error: `unknown request '${message.kind}'` });
    Promise.resolve()
      .then(() => handler(...message.args))
      .then((result) => reply({ result }), (error: Error) => reply({ error: error.message }));
  });
  process.send?.({ kpcAnswering: true } satisfies WorkerAnswering);
}
