#!/usr/bin/env node
// A front process accepts TCP connections and hands each one, by cs path, to one of
// three worker processes, each running a plain http.createServer. The workers answer;
// the front never reads a byte and keeps no descriptor of a connection it handed on.
// Run `node examples/http-handoff.js`: it starts the workers as children of itself,
// makes six requests, each on a new connection, and prints who answered each.
'use strict';
const { fork } = require('node:child_process');
const { once } = require('node:events');
const http = require('node:http');
const net = require('node:net');
const { listen, open, recvSocket, sendSocket } = require('connect-stream');

const WORKERS = 3;
const workerPath = (i) => `/dev/fdp/local/example-http/worker${i}`;

async function worker(i) {
  const server = http.createServer((req, res) => res.end(`worker ${i} (pid ${process.pid}) answers ${req.url}\n`));
  const listener = await listen(workerPath(i));
  process.send('listening');
  const front = await listener.accept();
  listener.close();
  try {
    for (;;) server.emit('connection', await recvSocket(front)); // the socket now owns the fd
  } catch {
    process.exit(0); // the front hung up
  }
}

async function front() {
  const children = [];
  for (let i = 0; i < WORKERS; i++) {
    const child = fork(__filename, ['worker', String(i)]);
    await once(child, 'message');
    children.push(child);
  }
  const workers = await Promise.all(children.map((_, i) => open(workerPath(i))));
  let next = 0;
  // pauseOnConnect: the front reads nothing, so every byte reaches the worker
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    sendSocket(workers[next++ % WORKERS], socket).catch((e) => socket.destroy(e)); // sent: the front's copy is closed
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  for (let r = 0; r < 6; r++) {
    const [res] = await once(http.get({ port, host: '127.0.0.1', path: `/request${r}`, agent: false }), 'response');
    res.pipe(process.stdout, { end: false });
    await once(res, 'end');
  }
  server.close();
  workers.forEach((w) => w.destroy());
}

const main = process.argv[2] === 'worker' ? worker(Number(process.argv[3])) : front();
main.catch((e) => {
  console.error(e);
  process.exit(1);
});
