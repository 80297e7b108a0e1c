// Noticing that the process that started us is gone. `npm run dev` runs the dev stack through
// `sh -c`; SIGTERM to npm ends npm and that shell, and nobody passes the signal on: the dev stack
// (and everything it started) would keep running, reparented to init. Node cannot ask the kernel
// for a signal on parent death (PR_SET_PDEATHSIG), so the parent pid is polled instead: when it
// changes, the parent has died.

/** Calls `onGone` once when this process's parent has exited; returns a function that stops watching. */
export function watchParent(onGone: () => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  // Started as an orphan already (e.g. `(node … &)` from a shell that exited): nothing to watch.
  if (parent === 1) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
