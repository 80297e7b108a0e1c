// A server that could not bind its address, with what an operator needs to fix it: which listener,
// which address, and the system's reason (EADDRINUSE, EACCES, EADDRNOTAVAIL...).

export class ListenError extends Error {
  override name = 'ListenError';
  readonly reason: string;

  constructor(
    readonly listener: string,
    readonly address: string,
    cause: Error,
  ) {
    const reason = (cause as NodeJS.ErrnoException).code ?? cause.message;
    super(`${listener} listener cannot listen on ${address}: ${cause.message}`, { cause });
    this.reason = reason;
  }
}
