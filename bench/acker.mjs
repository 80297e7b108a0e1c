// A trivial MQTT 3.1.1 "server" that answers CONNACK and PUBACK at once and does nothing else.
// Benchmarked like a real target, it shows the load generator's own ceiling on this machine.
// Usage: node bench/acker.mjs [--port 0]   (prints `READY <port>`)
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { exitOnSignal, listenAndAnnounce } from './lib/announce.mjs';

const { values: opts } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

const CONNACK = mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false });
const PINGRESP = mqttPacket.generate({ cmd: 'pingresp' });

const server = listenAndAnnounce(Number(opts.port), (socket) => {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let replies = [];
  parser.on('packet', (packet) => {
    if (packet.cmd === 'connect') replies.push(CONNACK);
    else if (packet.cmd === 'publish' && packet.qos === 1) replies.push(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId }));
    else if (packet.cmd === 'pingreq') replies.push(PINGRESP);
    else if (packet.cmd === 'disconnect') socket.end();
  });
  parser.on('error', () => socket.destroy());
  socket.on('data', (chunk) => {
    parser.parse(chunk);
    // One write per received chunk, like a server that batches its acks per read.
    if (replies.length > 0 && socket.writable) socket.write(replies.length === 1 ? replies[0] : Buffer.concat(replies));
    replies = [];
  });
  socket.on('error', () => {});
});

exitOnSignal(() => new Promise((resolve) => server.close(resolve)));
