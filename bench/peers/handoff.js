// Handing accepted TCP connections to a worker process: the client is the front (it
// listens on loopback TCP and hands each accepted connection on) and its own TCP
// client (connect, read the worker's one byte, close); the worker writes the byte.
//   handoff.js serve PATH    the cs worker: takes sockets with recvSocket on cs PATH
//   handoff.js cs PATH       front handing with sendSocket to the worker at PATH
//   handoff.js ipc           front handing with subprocess.send to a child it forks
'use strict';
const { fork } = require('node:child_process');
const { once } = require('node:events');
const net = require('node:net');
const { open, recvSocket, sendSocket } = require('../..');
const { serveRecords } = require('./records');
const { control, loopAsync } = require('./control');

const [role, path] = process.argv.slice(2);
const answer = (socket) => socket.end('x');

/** Listen on loopback with `hand(socket)` for each accepted connection; then time connect-to-answer. */
async function front(hand, extraPids) {
  const server = net.createServer({ pauseOnConnect: true }, hand);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  const connectRead = () => new Promise((resolve, reject) => {
    net.connect(port, '127.0.0.1').once('data', resolve).once('error', reject);
  });
  control(loopAsync([connectRead], 1), extraPids);
}

const roles = {
  serve: () => serveRecords(path, async (conn) => answer(await recvSocket(conn))),
  async cs() {
    const worker = await open(path);
    await front((socket) => sendSocket(worker, socket), []);
  },
  async ipc() {
    const child = fork(__filename, ['ipc-child'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await once(child, 'message');
    await front((socket) => child.send('s', socket), [child.pid]);
  },
  'ipc-child'() {
    process.on('message', (_, socket) => answer(socket));
    process.send('ready');
  },
};

roles[role]();
