// nats-server for tests: a real server per test file on a free port. The implementation is shared
// with the dev stack (dev/nats-server-process.ts); leftover servers are killed when the test
// process exits.
export { startNatsServer, type NatsServerHandle } from '../../dev/nats-server-process.js';
export { getFreePort } from '../../dev/ports.js';
