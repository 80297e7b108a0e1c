// Listening ports for the servers under test: the same picker as the tests and the dev stack use
// (dev/ports.ts), outside the kernel's ephemeral range, so that none of the tens of thousands of
// outgoing connections a benchmark opens takes a port between the check and the server's listen().
export const { getFreePort } = await import('../../dist-dev/dev/ports.js');
