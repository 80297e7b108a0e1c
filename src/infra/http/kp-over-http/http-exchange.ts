// One waiting HTTP request as the core's HttpExchange: answered exactly once, by the extension's
// reply (routed to it by correlationId), by KPC's own error, by the request timeout (504), or not at
// all when its client went away first.
import type { ExtensionReply } from '../../../actors/ports.js';
import type { HttpExchange } from '../../../actors/session/http-session.js';
import { errorAnswer, extensionAnswer, type HttpAnswer } from './http-answer.js';

let nextExchangeNumber = 0;

export class NodeHttpExchange implements HttpExchange {
  readonly replyVia = 'http' as const;
  /** `h…`: MQTT connection ids are `c…`. */
  readonly id = `h${++nextExchangeNumber}`;
  readonly answer: Promise<HttpAnswer | null>;
  private settle!: (answer: HttpAnswer | null) => void;
  private done = false;
  private readonly callbacks: Array<() => void> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    this.answer = new Promise((resolve) => (this.settle = resolve));
    this.timer = setTimeout(() => this.finish(errorAnswer(504, `No answer from the extension within ${timeoutMs} ms`)), timeoutMs);
  }

  get isActive(): boolean {
    return !this.done;
  }

  /** Returns the body bytes the answer carries (what endpoint traffic reports count as sent). */
  reply(data: ExtensionReply): number {
    const answer = extensionAnswer(data);
    return this.finish(answer) ? answer.body.length : 0;
  }

  answerError(statusCode: number, reasonPhrase: string): void {
    this.finish(errorAnswer(statusCode, reasonPhrase));
  }

  /** The client closed the connection before its answer: nothing to send any more. */
  abandon(): void {
    this.finish(null);
  }

  whenAnswered(callback: () => void): void {
    if (this.done) callback();
    else this.callbacks.push(callback);
  }

  /** False when the request already had its answer (or its client left). */
  private finish(answer: HttpAnswer | null): boolean {
    if (this.done) return false;
    this.done = true;
    clearTimeout(this.timer);
    this.settle(answer);
    for (const callback of this.callbacks.splice(0)) callback();
    return true;
  }
}
