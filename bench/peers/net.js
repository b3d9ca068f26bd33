// Node's own `net` over a unix socket path: the baseline a user has without cs.
//   net.js serve-echo|serve-frames|serve-greet PATH     serve-sink PATH SIZE
//   net.js bytes PATH SIZE            SIZE-byte round trips
//   net.js frames PATH WINDOW CONNS   64-byte u32-prefixed request/reply, WINDOW in flight on each of CONNS connections
//   net.js connect PATH               connect, wait for the first byte, close
//   net.js burst PATH TOTAL INFLIGHT  the same TOTAL times, INFLIGHT at once
//   net.js bulk PATH SIZE             SIZE bytes one way, then a one-byte ack
'use strict';
const net = require('node:net');
const { control, loopAsync, loopTimed, burst, replies, frameSize, frame, echoFrames, bulkSend, bulkSink } = require('./control');

const [role, path, ...args] = process.argv.slice(2);
const [a, b] = args.map(Number);

function serve(onConnection) {
  net.createServer((s) => {
    s.on('error', () => s.destroy());
    onConnection(s);
  }).listen({ path, backlog: 4096 }, () => console.log('ready'));
}

function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => resolve(s));
    s.once('error', reject);
  });
}

/** connect + first byte from the server + close. */
const connectClose = () => new Promise((resolve, reject) => {
  const s = net.connect(path);
  s.once('error', reject);
  s.once('data', () => {
    s.destroy();
    resolve();
  });
});

const roles = {
  'serve-echo': () => serve((s) => s.pipe(s)),
  'serve-frames': () => serve(echoFrames),
  'serve-greet': () => serve((s) => {
    s.end('g');
    s.resume();
  }),
  'serve-sink': () => serve((s) => bulkSink(s, a)),
  async bytes() {
    const msg = Buffer.alloc(a, 7);
    const call = replies(await connect(), () => a);
    control(loopAsync([() => call(msg)]));
  },
  async frames() {
    const request = frame(64);
    const calls = [];
    for (let i = 0; i < b; i++) calls.push(replies(await connect(), frameSize));
    control(loopAsync(calls.map((call) => () => call(request)), a));
  },
  connect: () => control(loopAsync([connectClose])),
  burst: () => control(burst(connectClose, a, b)),
  async bulk() {
    control(loopTimed(bulkSend(await connect(), a)));
  },
};

roles[role]();
